from taurl.core.db import Database, clone
from taurl.core.hashing import canonical_hash


def make_base():
    return {
        "users": {"u1": {"name": "A", "tags": ["x"]}, "u2": {"name": "B", "tags": []}},
        "orders": {"o1": {"total": 1.5}},
    }


def test_reads_share_the_base_and_edits_copy_it():
    base = make_base()
    db = Database(base)
    assert db["users"]["u1"] is base["users"]["u1"]
    record = db["users"].edit("u1")
    record["tags"].append("y")
    assert base["users"]["u1"]["tags"] == ["x"]
    assert db["users"]["u1"]["tags"] == ["x", "y"]
    assert db.touched() == {("users", "u1")}


def test_fork_is_a_fresh_episode_over_the_same_base():
    db = Database(make_base())
    db["users"].edit("u1")["name"] = "Z"
    fresh = db.fork()
    assert fresh["users"]["u1"]["name"] == "A"
    assert fresh.touched() == set()
    assert fresh.base_id == db.base_id


def test_insert_appends_in_order_and_rejects_existing_keys():
    db = Database(make_base())
    db["orders"].insert("o2", {"total": 2})
    assert list(db["orders"]) == ["o1", "o2"]
    assert len(db["orders"]) == 2
    try:
        db["orders"].insert("o1", {})
    except KeyError as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("insert of an existing key must fail")


def test_diff_uses_canonical_form_and_only_touched_records():
    base = make_base()
    a, b = Database(base), Database(base)
    a["users"].edit("u2")  # touched but unchanged: no difference
    assert a.diff(b) == []
    a["orders"].edit("o1")["total"] = 1  # 1 vs 1.5
    b["orders"].edit("o1")["total"] = 1.0  # τ-bench's hash tells 1 from 1.0
    diffs = a.diff(b)
    assert [(d.table, d.key, d.actual, d.expected) for d in diffs] == [("orders", "o1", {"total": 1}, {"total": 1.0})]


def test_state_hash_equals_the_canonical_hash_of_the_whole_state():
    base = make_base()
    db = Database(base)
    assert db.state_hash() == canonical_hash(base)
    db["users"].edit("u1")["name"] = "Q"
    db["orders"].insert("o9", {"total": 3})
    assert db.state_hash() == canonical_hash(db.to_dict())
    assert db.state_hash() != canonical_hash(base)
    single = {"t": {"only": {"v": 1}}}  # one-element tuples print with a trailing comma
    assert Database(single).state_hash() == canonical_hash(single)


def test_canonical_hash_matches_tau_bench_definition():
    import hashlib

    value = {"b": [1, {"z": 2, "a": {3, 1}}], "a": "x"}
    expected_text = "(('a', 'x'), ('b', (1, (('a', (1, 3)), ('z', 2)))))"
    assert canonical_hash(value) == hashlib.sha256(expected_text.encode()).hexdigest()


def test_clone_is_deep():
    value = {"a": [{"b": 1}]}
    copy = clone(value)
    copy["a"][0]["b"] = 2
    assert value == {"a": [{"b": 1}]}


def test_canonical_equal_agrees_with_the_canonical_text():
    from hypothesis import given
    from hypothesis import strategies as st

    from taurl.core.hashing import canonical_equal, to_hashable

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.floats(-2, 2, allow_nan=False),
        st.sampled_from(["a", "b", "1"]),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "z"]), inner, max_size=3)
        ),
        max_leaves=8,
    )

    @given(values, values)
    def check(a, b):
        assert canonical_equal(a, b) == (str(to_hashable(a)) == str(to_hashable(b)))
        assert canonical_equal(a, a)

    check()
    assert not canonical_equal({"v": 1}, {"v": 1.0}) and not canonical_equal(1, True) and not canonical_equal(0.0, -0.0)
