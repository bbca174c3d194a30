"""OutageLog: one line when storing starts failing, one when it works again, whatever happens between."""

import logging

from server.errors import StoreError
from server.ingest.outage import OutageLog


def test_an_outage_is_two_lines_however_many_writes_fail(caplog):
    now = [100.0]
    outage = OutageLog(logging.getLogger("test.outage"), clock=lambda: now[0])
    outage.succeeded()  # storing works: nothing to say
    with caplog.at_level(logging.INFO, "test.outage"):
        for _ in range(50):
            outage.failed(StoreError("cannot upload media to s3://b/p: connection refused"), frames=8)
            now[0] += 0.5
        outage.failed(StoreError("cannot record the status"), frames=0)
        assert outage.ongoing
        outage.succeeded()
        outage.succeeded()
    assert not outage.ongoing
    assert [record.levelname for record in caplog.records] == ["ERROR", "WARNING"]
    started, ended = (record.getMessage() for record in caplog.records)
    assert "storage outage: cannot upload media to s3://b/p: connection refused" in started
    assert "over after 25.0 s: 51 write(s) failed meanwhile, 400 frame message(s)" in ended


def test_each_outage_is_counted_on_its_own(caplog):
    outage = OutageLog(logging.getLogger("test.outage"), clock=lambda: 0.0)
    with caplog.at_level(logging.INFO, "test.outage"):
        outage.failed(StoreError("database down"), frames=3)
        outage.succeeded()
        outage.failed(StoreError("database down again"), frames=1)
        outage.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4
    assert "1 write(s) failed meanwhile, 1 frame message(s)" in messages[3]
