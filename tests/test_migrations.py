from __future__ import annotations

import numpy as np
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from memory.migrate import HEAD_REVISION, alembic_config, current_revision, head_revision
from memory.schema import Base
from memory.store import Store
from tests.helpers import event_at, gate_decision


def test_a_new_database_is_migrated_to_head_and_matches_the_models(database_url):
    store = Store(database_url)
    assert current_revision(store.engine) == head_revision() == HEAD_REVISION
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_reopening_a_migrated_database_keeps_its_data(database_url):
    first = Store(database_url)
    run = first.start_run("s", 1)
    first.close()
    again = Store(database_url)
    assert again.last_run().id == run


def test_opening_an_up_to_date_database_does_not_load_alembic(database_url):
    import subprocess
    import sys

    Store(database_url).close()
    code = (
        "import sys; from memory.store import Store; Store(sys.argv[1]).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    opened = subprocess.run(
        [sys.executable, "-c", code, database_url], capture_output=True, text=True, timeout=60
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"


def test_processes_opening_a_new_database_together_do_not_collide(database_url):
    import subprocess
    import sys

    code = "import sys; from memory.store import Store; Store(sys.argv[1]).close()"
    runs = [
        subprocess.Popen([sys.executable, "-c", code, database_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [run.communicate(timeout=60)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], errors
    assert current_revision(Store(database_url).engine) == head_revision()


def test_json_null_becomes_sql_null_so_queries_can_filter_on_it(database_url):
    store = Store(database_url)
    event = event_at(0, "I need help")
    store.record_decisions(None, [(event, gate_decision(event))])
    store.record_deliberation(event.id, "graph:templates", "silent", "nothing", None, None, [])
    nulls = text("SELECT count(*) FROM deliberations WHERE proposal IS NULL")
    with store.engine.begin() as connection:
        assert connection.scalar(nulls) == 1  # None is written as SQL NULL
        # What releases before 0012 wrote: the JSON document null.
        connection.execute(text("UPDATE deliberations SET proposal = 'null'"))
        assert connection.scalar(nulls) == 0
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    store.close()
    again = Store(database_url)
    with again.engine.connect() as connection:
        assert connection.scalar(nulls) == 1
    again.close()


def test_vectors_written_as_float32_before_0013_read_back_beside_float16_ones(database_url):
    before, after = event_at(0, "written by 0012"), event_at(1, "written by 0013")
    old = np.array([[0.6, 0.8, 1 / 3]], dtype=np.float32)
    new = np.array([[0.1, 0.2, 1 / 3]], dtype=np.float32)
    sizes = text("SELECT length(vector) FROM episode_vectors ORDER BY id")
    store = Store(database_url)
    store.record_decisions(None, [(before, gate_decision(before))], ("enc", old))
    with store.engine.begin() as connection:
        assert connection.scalars(sizes).all() == [6]
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
        assert connection.scalars(sizes).all() == [12]  # widened for the schema before
        # As 0012 wrote it: float32 bytes, exactly.
        connection.execute(text("UPDATE episode_vectors SET vector = :v"), {"v": old.tobytes()})
    store.close()

    again = Store(database_url)
    again.record_decisions(None, [(after, gate_decision(after))], ("enc", new))
    with again.engine.connect() as connection:
        assert connection.scalars(sizes).all() == [12, 6]
    vectors = again.event_vectors([before.id, after.id], "enc")
    assert vectors[before.id].tolist() == old[0].tolist()  # the old row, untouched
    assert vectors[after.id].dtype == np.float32
    np.testing.assert_allclose(vectors[after.id], new[0], rtol=1e-3)
    # And together, as the recall index loads them.
    _, _, _, matrix = again.episode_vectors("enc")
    assert matrix.dtype == np.float32 and matrix[0].tolist() == old[0].tolist()
    np.testing.assert_allclose(matrix[1], new[0], rtol=1e-3)
    again.close()
