"""What ``edgelabel-agent sample`` writes: the selector's choices on a source, for a person to look at.

* :mod:`.recording`: :class:`~.recording.RecordingSelector` wraps the selector and notes every decision;
* :mod:`.sink`: :class:`~.sink.ReportSink` takes the kept frames instead of the uplink;
* :mod:`.contact_sheet`: kept frames drawn with their boxes and reasons, many to a sheet;
* :mod:`.timeline`: the signals and decisions over time (matplotlib);
* :mod:`.index`: the summary numbers and ``index.html``.
"""
