#!/usr/bin/env python3
"""Client-side checks of image_search through a real driver (psycopg 3).

What the SQL golden tests cannot show: bound parameters (model name, image path,
image bytes), and the binary wire format of the embedding type, which must be
pgvector's: int16 dim, int16 unused, then dim float4, all big-endian.

Connects with the usual libpq variables (PGHOST, PGPORT, PGUSER) to the database
image_search_regress (or --dbname), on a cluster whose image_search.image_root is
the repository root (scripts/pg_cluster.sh), and cleans up what it creates.

    pip install -r test/requirements.txt
    python test/driver_test.py

Prints one line per check and finally `driver: N passed, M failed`; exits 1 on failure.
"""
import argparse
import math
import os
import struct
import sys
import traceback

import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERY_IMAGE = "tutorial_data/mnist_data/test/923.jpg"
MODEL = "driver_model"
TRAIN, TEST = "driver_train", "driver_test"
COLUMN = f"{MODEL}_simclr"
# A grayscale model's embedding: 128 learnt values + 64 of the gradient descriptor (README).
DIM = 192

passed = failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAILED - {name}" + (f": {detail}" if detail else ""))


def decode_binary(data):
    """pgvector's binary format: int16 dim, int16 unused, dim x float4, big-endian."""
    dim, unused = struct.unpack_from(">hh", data, 0)
    if len(data) != 4 + 4 * dim:
        raise ValueError(f"{len(data)} bytes for {dim} dimensions")
    return dim, unused, list(struct.unpack_from(f">{dim}f", data, 4))


def encode_binary(values):
    return struct.pack(f">hh{len(values)}f", len(values), 0, *values)


def parse_text(text):
    """'[1,2.5,-3e-05]' -> floats, each rounded to float4 as the server stores them."""
    assert text.startswith("[") and text.endswith("]"), text
    return [struct.unpack(">f", struct.pack(">f", float(x)))[0] for x in text[1:-1].split(",")]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


class Embedding(list):
    """A Python list sent as image_search.embedding in binary."""


def register_embedding(conn):
    oid = conn.execute("SELECT 'image_search.embedding'::regtype::oid").fetchone()[0]

    class EmbeddingBinaryDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj):
            return encode_binary(obj)

    EmbeddingBinaryDumper.oid = oid
    conn.adapters.register_dumper(Embedding, EmbeddingBinaryDumper)


def setup(conn):
    conn.execute("SET client_min_messages = warning")  # no per-epoch NOTICEs
    conn.execute("CREATE EXTENSION IF NOT EXISTS image_search")
    for table, csv in ((TRAIN, "mnist_train.csv"), (TEST, "mnist_test.csv")):
        conn.execute("SELECT image_search.load_csv(%s, %s, overwrite => true)",
                     (table, f"tutorial_data/mnist_data/{csv}"))
    row = conn.execute(
        "SELECT epochs, rows_used FROM image_search.build_model(%s, %s, image_col => %s, max_epochs => 1, overwrite => true)",
        (MODEL, f"SELECT * FROM {TRAIN} LIMIT 200", "img_path"),
    ).fetchone()
    check("build_model with bound parameters", row == (1, 200), row)
    converted = conn.execute("SELECT image_search.convert(%s, %s, image_col => %s)", (MODEL, TEST, "img_path")).fetchone()[0]
    check("convert embeds every row", converted == 200, converted)


def run_checks(conn):
    col = sql.Identifier(COLUMN)

    # Search with the model name and the image path as bound parameters.
    rows = conn.execute(
        sql.SQL("SELECT filename FROM {t} ORDER BY {c} OPERATOR(image_search.<=>) image_search.embed_image(%s, %s) LIMIT 4")
        .format(t=sql.Identifier(TEST), c=col),
        (MODEL, QUERY_IMAGE),
    ).fetchall()
    check("search with bound parameters returns 4 rows, 923.jpg first",
          len(rows) == 4 and rows[0][0] == "923.jpg", rows)

    # search_image with a text[] parameter.
    rows = conn.execute(
        "SELECT r->>'filename', (r->>%s)::float8 FROM image_search.search_image(%s, %s, %s) r",
        (f"{COLUMN}_similarity1", MODEL, f"SELECT filename, {COLUMN} FROM {TEST}", [QUERY_IMAGE]),
    ).fetchall()
    check("search_image with an array parameter: 923.jpg first with similarity 1",
          len(rows) == 4 and rows[0][0] == "923.jpg" and abs(rows[0][1] - 1) < 1e-6, rows)

    # The stored embedding of 923.jpg, in binary and in text.
    query = sql.SQL("SELECT {c}, {c}::text FROM {t} WHERE filename = '923.jpg'").format(c=col, t=sql.Identifier(TEST))
    with conn.cursor(binary=True) as cur:
        cur.execute(query)
        binary_value, _ = cur.fetchone()
    check("binary result is bytes", isinstance(binary_value, (bytes, bytearray, memoryview)), type(binary_value))
    binary_value = bytes(binary_value)
    dim, unused, from_binary = decode_binary(binary_value)
    check(f"binary header: {DIM} dimensions, unused field 0", (dim, unused) == (DIM, 0), (dim, unused))
    check("binary values are finite", all(math.isfinite(x) for x in from_binary))
    with conn.cursor() as cur:
        cur.execute(query)
        _, text_value = cur.fetchone()
    from_text = parse_text(text_value)
    check("binary value equals the text value exactly", from_binary == from_text,
          next(((i, a, b) for i, (a, b) in enumerate(zip(from_binary, from_text)) if a != b), len(from_text)))

    # Binary input: the decoded floats sent back (embedding_recv) equal the stored value.
    register_embedding(conn)
    same = conn.execute(
        sql.SQL("SELECT {c} OPERATOR(image_search.=) %b FROM {t} WHERE filename = '923.jpg'").format(c=col, t=sql.Identifier(TEST)),
        (Embedding(from_binary),),
    ).fetchone()[0]
    check("binary input round-trips", same is True, same)
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT %b", (Embedding(from_binary),))
        echoed = bytes(cur.fetchone()[0])
    check("binary send of binary recv is byte-identical", echoed == binary_value)

    # The query image as bytes from the client, a bytea parameter.
    with open(os.path.join(REPO, QUERY_IMAGE), "rb") as f:
        image_bytes = f.read()
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT image_search.embed_image(%s, %s::bytea)", (MODEL, image_bytes))
        _, _, from_bytes = decode_binary(bytes(cur.fetchone()[0]))
    similarity = cosine(from_bytes, from_binary)
    check("embed_image(model, bytea) matches the stored embedding (cosine > 0.9999)", similarity > 0.9999, similarity)
    server_similarity = conn.execute(
        sql.SQL("SELECT image_search.cosine_similarity({c}, image_search.embed_image(%s, %s::bytea)) FROM {t} WHERE filename = '923.jpg'")
        .format(c=col, t=sql.Identifier(TEST)),
        (MODEL, image_bytes),
    ).fetchone()[0]
    check("server-side cosine_similarity agrees", abs(server_similarity - similarity) < 1e-5, (server_similarity, similarity))

    # Bad bytes from the client are an error, not a crash; the session goes on.
    try:
        conn.execute("SELECT image_search.embed_image(%s, %s::bytea)", (MODEL, b"not an image"))
        check("garbage bytea is refused", False, "no error")
    except psycopg.errors.DataException as e:
        check("garbage bytea is refused", "not a recognised image format" in str(e), str(e))
    check("session still usable", conn.execute("SELECT 1").fetchone()[0] == 1)


def check_pgvector_python(dbname):
    """pgvector's own client library reads and writes embedding when pointed at the type."""
    import numpy as np
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        register_vector_info(conn, TypeInfo.fetch(conn, "image_search.embedding"))
        query = f"SELECT {COLUMN} FROM {TEST} WHERE filename = '923.jpg'"
        # pgvector-python 0.5 loads a Vector (to_numpy()); older versions a numpy array.
        as_array = lambda v: v.to_numpy() if hasattr(v, "to_numpy") else np.asarray(v)  # noqa: E731
        text_value = as_array(conn.execute(query).fetchone()[0])
        check(f"pgvector-python reads embedding (text) as {DIM} floats",
              text_value.shape == (DIM,) and np.all(np.isfinite(text_value)), text_value.shape)
        binary_value = as_array(conn.cursor(binary=True).execute(query).fetchone()[0])
        check("pgvector-python reads embedding (binary) identically", np.array_equal(text_value, binary_value))
        search = f"SELECT filename FROM {TEST} ORDER BY {COLUMN} <=> %s LIMIT 1"
        first = conn.execute(search, (text_value,)).fetchone()[0]
        check("pgvector-python binds a numpy array as the query (text)", first == "923.jpg", first)
        first = conn.cursor(binary=True).execute(search, (text_value,)).fetchone()[0]
        check("pgvector-python binds a numpy array as the query (binary)", first == "923.jpg", first)


def cleanup(conn):
    conn.execute(f"DROP TABLE IF EXISTS {TRAIN}, {TEST}")
    conn.execute("SELECT image_search.drop_model(%s, if_exists => true)", (MODEL,))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dbname", default="image_search_regress")
    args = parser.parse_args()
    global failed
    try:
        with psycopg.connect(dbname=args.dbname, autocommit=True) as conn:
            try:
                setup(conn)
                run_checks(conn)
                check_pgvector_python(args.dbname)
            except Exception:
                traceback.print_exc()
                failed += 1
            finally:
                cleanup(conn)
    except Exception:
        traceback.print_exc()
        failed += 1
    print(f"driver: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
