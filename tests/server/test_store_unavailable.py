"""Which storage failures are outages (StoreUnavailableError: ingest answers nothing, agents retry)
and which are not (data the database refuses: retrying would fail the same way)."""

import pytest
from sqlalchemy import text

from server.db import open_database
from server.errors import StoreError, StoreUnavailableError
from server.media.s3 import S3MediaStore
from tests.helpers import free_port


def test_a_database_server_that_is_not_there_is_unavailable(tmp_path):
    with pytest.raises(StoreUnavailableError, match="Connection refused"):
        open_database(tmp_path, "create", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")


def test_a_row_the_database_refuses_is_an_error_but_no_outage(tmp_path, database):
    with open_database(tmp_path, "create", database) as db:
        insert = text("INSERT INTO models (id, class_names) VALUES ('m', '[]')")
        with db.write("add a model") as conn:
            conn.execute(insert)
        with pytest.raises(StoreError) as refused:
            with db.write("add the model again") as conn:
                conn.execute(insert)
        assert not isinstance(refused.value, StoreUnavailableError)


def test_an_s3_server_that_is_not_there_is_unavailable():
    store = S3MediaStore("s3://bucket/prefix", endpoint=f"http://127.0.0.1:{free_port()}", region="us-east-1",
                         access_key_id="key", secret_access_key="secret")
    try:
        with pytest.raises(StoreUnavailableError, match="cannot upload media"):
            store.put_many([b"\xff\xd8 not really a jpeg"])
    finally:
        store.close()
