"""What the agent and the collector share: the files and formats both sides read and write."""
