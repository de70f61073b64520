"""The peers wire format against HAProxy 2.6's bytes (haproxy.md §2 and the capture file),
plus round-trip and chunking properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.peers import codec
from stack.peers.codec import (
    Ack,
    Control,
    Ctrl,
    DataParam,
    Define,
    Error,
    FrameParser,
    RxDict,
    TableLayout,
    TxDict,
    Update,
    decode_entry,
    decode_message,
    decode_varint,
    encode_entry,
    encode_message,
    encode_varint,
)

# Lines of /work/shared/reference/haproxy-2.6-peers-capture.txt (HAProxy 2.6.12 <-> a test peer)
DEFINE_7 = "0a8212070662655f73746b0621f1f1fe00f0e5ed05"
DEFINE_1 = "0a8212010662655f73746b0621f1f1fe00f0e5ed05"
UPDATE_INJECTED = "0a8018000000010d696e6a65637465642d73657373020401027332"
ACK_7_1 = "0a84050700000001"
UPDATE_NEWSESS1 = "0a801300000002086e65777365737331010401027331"
UPDATE_NEWSESS2 = "0a801300000003086e65777365737332020402027332"
UPDATE_REF = "0a801000000004086e65777365737331010101"
UPDATE_TIMED = "0a851780000001001b63e80872656c6f61646d65010401027331"
INCUPDATE_TIMED = "0a8618001b660f0d696e6a65637465642d73657373020402027332"
CAPTURE_RX = [DEFINE_1, UPDATE_NEWSESS1, UPDATE_NEWSESS2, UPDATE_REF, "0004", "0004"]

BE_STK = TableLayout(codec.KeyType.STR, 33, 1 << 0 | 1 << 19)


def frames(hexes: list[str]) -> list[codec.Message]:
    parser = FrameParser()
    return [decode_message(f) for f in parser.feed(bytes.fromhex("".join(hexes)))]


# --- varints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (239, "ef"),
        (240, "f000"),
        (0x1234, "f49401"),
        (1_800_000, "f0e5ed05"),
        (0x80001, "f1f1fe00"),
        (2287, "ff7f"),  # the largest 2-byte value
        (2288, "f08000"),  # PEER_ENC_3BYTES_MIN
        (264432, "f0808000"),  # PEER_ENC_4BYTES_MIN
        (1161999626690365680, "f0" + "80" * 8 + "00"),  # PEER_ENC_10BYTES_MIN
        (1161999626690365679, "ff" * 8 + "7f"),  # the largest 9-byte value
    ],
)
def test_varint_vectors(value: int, wire: str) -> None:
    assert encode_varint(value).hex() == wire
    assert decode_varint(bytes.fromhex(wire)) == (value, len(wire) // 2)


@given(st.integers(0, (1 << 64) - 1))
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert len(data) <= 10
    assert decode_varint(data + b"\xaa") == (value, len(data))


@given(st.integers(0, (1 << 64) - 1))
def test_varint_cut_anywhere_is_truncated(value: int) -> None:
    data = encode_varint(value)
    for cut in range(len(data)):
        with pytest.raises(codec.Truncated):
            decode_varint(data[:cut])


def test_varint_longer_than_64_bits_is_malformed() -> None:
    with pytest.raises(codec.Malformed):
        decode_varint(bytes.fromhex("ff" + "ff" * 9 + "00"))  # 11 bytes
    with pytest.raises(codec.Malformed):
        decode_varint(bytes.fromhex("ff" + "ff" * 8 + "7f"))  # above 2**64 - 1


def test_varint_refuses_negative_and_huge() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)
    with pytest.raises(ValueError):
        encode_varint(1 << 64)


# --- the capture as test vectors -----------------------------------------------------------------


def test_capture_define_and_updates_decode() -> None:
    define, up1, up2, up3, hb1, hb2 = frames(CAPTURE_RX)
    assert define == Define(1, b"be_stk", 6, 33, 0x80001, 1_800_000, ())
    rx = RxDict()
    layout = define.layout()
    assert isinstance(up1, Update) and up1.update_id == 2 and up1.expire_ms is None
    e1 = decode_entry(up1.data, layout, rx)
    assert (e1.key, e1.server_id, e1.server_key) == (b"newsess1", 1, "s1")
    e2 = decode_entry(up2.data, layout, rx)
    assert (e2.key, e2.server_id, e2.server_key) == (b"newsess2", 2, "s2")
    # a later refresh of newsess1 only names dictionary entry 1
    assert isinstance(up3, Update) and up3.update_id == 4
    e3 = decode_entry(up3.data, layout, rx)
    assert (e3.key, e3.server_id, e3.server_key) == (b"newsess1", 1, "s1")
    assert hb1 == hb2 == Control(Ctrl.HEARTBEAT)


def test_capture_teach_messages_decode() -> None:
    _define, timed, inc_timed, finished = frames([DEFINE_1, UPDATE_TIMED, INCUPDATE_TIMED, "0001"])
    rx = RxDict()
    assert isinstance(timed, Update)
    assert (timed.update_id, timed.expire_ms, timed.type) == (0x80000001, 1_795_048, 0x85)
    assert decode_entry(timed.data, BE_STK, rx).key == b"reloadme"
    assert isinstance(inc_timed, Update)
    assert (inc_timed.update_id, inc_timed.expire_ms, inc_timed.type) == (None, 1_795_599, 0x86)
    entry = decode_entry(inc_timed.data, BE_STK, rx)
    assert (entry.key, entry.server_id, entry.server_key) == (b"injected-sess", 2, "s2")
    assert finished == Control(Ctrl.RESYNC_FINISHED)


def test_capture_ack_is_type_0x84() -> None:
    (ack,) = frames([ACK_7_1])
    assert ack == Ack(7, 1)
    assert encode_message(Ack(7, 1)).hex() == ACK_7_1


def test_encoding_reproduces_the_test_peers_bytes() -> None:
    """What the capture's test peer sent (and HAProxy accepted): DEFINE id 7 + one update."""
    assert encode_message(Define(7, b"be_stk", 6, 33, 0x80001, 1_800_000)).hex() == DEFINE_7
    data = encode_entry(b"injected-sess", BE_STK, {0: 2, 19: "s2"}, TxDict())
    assert encode_message(Update(1, None, data)).hex() == UPDATE_INJECTED


def test_encoding_reproduces_haproxys_updates_and_dictionary_references() -> None:
    tx = TxDict()
    first = encode_entry(b"newsess1", BE_STK, {0: 1, 19: "s1"}, tx)
    assert encode_message(Update(2, None, first)).hex() == UPDATE_NEWSESS1
    second = encode_entry(b"newsess2", BE_STK, {0: 2, 19: "s2"}, tx)
    assert encode_message(Update(3, None, second)).hex() == UPDATE_NEWSESS2
    again = encode_entry(b"newsess1", BE_STK, {0: 1, 19: "s1"}, tx)
    assert encode_message(Update(4, None, again)).hex() == UPDATE_REF
    timed = encode_entry(b"reloadme", BE_STK, {0: 1, 19: "s1"}, TxDict())
    assert encode_message(Update(0x80000001, 1_795_048, timed)).hex() == UPDATE_TIMED


def test_every_capture_message_round_trips() -> None:
    hexes = [DEFINE_7, UPDATE_INJECTED, ACK_7_1, *CAPTURE_RX, UPDATE_TIMED, INCUPDATE_TIMED]
    hexes += ["0000", "0001", "0002", "0003", "0004", "0100", "0101"]
    for h in hexes:
        (msg,) = frames([h])
        assert encode_message(msg).hex() == h


# --- framing -------------------------------------------------------------------------------------


def test_partial_input_is_kept_until_complete() -> None:
    parser = FrameParser()
    data = bytes.fromhex(DEFINE_1 + UPDATE_NEWSESS1)
    assert parser.feed(data[:3]) == []
    assert parser.feed(data[3:25]) != []  # the DEFINE (21 bytes) is complete
    out = parser.feed(data[25:])
    assert len(out) == 1 and out[0].type == 0x80
    assert len(parser) == 0


@given(st.lists(st.integers(1, 50), max_size=40))
def test_arbitrary_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    data = bytes.fromhex("".join([DEFINE_7, UPDATE_INJECTED, ACK_7_1, *CAPTURE_RX, "0001"]))
    whole = FrameParser().feed(data)
    parser = FrameParser()
    got: list[codec.Frame] = []
    pos = 0
    for n in cuts:
        got += parser.feed(data[pos : pos + n])
        pos += n
    got += parser.feed(data[pos:])
    assert got == whole


def test_oversized_message_is_too_big() -> None:
    parser = FrameParser(max_size=100)
    with pytest.raises(codec.TooBig):
        parser.feed(bytes.fromhex("0a80") + encode_varint(101))


def test_length_longer_than_five_bytes_is_malformed() -> None:
    parser = FrameParser()
    with pytest.raises(codec.Malformed) as info:
        parser.feed(bytes.fromhex("0004" + "0a80ffffffffff"))
    assert not isinstance(info.value, codec.TooBig)
    assert [f.type for f in info.value.frames] == [4]  # type: ignore[attr-defined]


def test_reserved_class_is_a_protocol_error_unknown_ones_are_ignored() -> None:
    with pytest.raises(codec.Malformed):
        decode_message(codec.Frame(255, 0))
    assert isinstance(decode_message(codec.Frame(7, 1)), codec.Unknown)
    assert isinstance(decode_message(codec.Frame(10, 0x8F, b"xx")), codec.Unknown)
    assert isinstance(decode_message(codec.Frame(0, 9)), codec.Unknown)


def test_stick_table_messages_skip_unknown_trailing_bytes() -> None:
    (ack,) = frames(["0a8408" + "07" + "00000001" + "deadbe"])
    assert ack == Ack(7, 1)
    (define,) = frames(["0a8215" + DEFINE_1[6:] + "010203"])
    assert isinstance(define, Define) and define.expire_ms == 1_800_000
    (up,) = frames(["0a8016" + UPDATE_NEWSESS1[6:] + "aabbcc"])
    assert isinstance(up, Update)
    entry = decode_entry(up.data, BE_STK, RxDict())
    assert (entry.key, entry.server_key) == (b"newsess1", "s1")


def test_cut_messages_are_malformed() -> None:
    with pytest.raises(codec.Malformed):
        decode_message(codec.Frame(10, 0x84, bytes.fromhex("070000")))
    with pytest.raises(codec.Malformed):
        decode_message(codec.Frame(10, 0x80, bytes.fromhex("0000")))
    with pytest.raises(codec.Malformed):
        decode_message(codec.Frame(10, 0x82, bytes.fromhex("0106")))  # name cut
    up = Update(1, None, bytes.fromhex("086e657773657373310104010273"))  # server_key cut
    with pytest.raises(codec.Malformed):
        decode_entry(up.data, BE_STK, RxDict())


def test_dictionary_reference_out_of_range_is_malformed() -> None:
    data = bytes.fromhex("0161" + "01" + "02" + "f090" + "00")  # id 0x90 + 1 > 128
    with pytest.raises(codec.Malformed):
        decode_entry(data, BE_STK, RxDict())


# --- DEFINE parameters, other key types, every data type -----------------------------------------


def test_define_with_frequency_counter_and_array_parameters() -> None:
    bits = 1 << 0 | 1 << 10 | 1 << 19 | 1 << 23
    params = (DataParam(10, None, 10_000), DataParam(23, 3, None))
    msg = Define(3, b"be_x", 6, 33, bits, 60_000, params)
    (back,) = frames([encode_message(msg).hex()])
    assert back == msg
    assert back.layout().nbelem == {23: 3}


def test_define_parameters_for_another_type_make_the_table_ignored() -> None:
    bits = 1 << 10
    body = bytes.fromhex("01") + b"\x04be_x" + bytes.fromhex("0621") + encode_varint(bits)
    body += encode_varint(60_000) + bytes.fromhex("0b" + "10")  # prefix 11, not 10
    msg = decode_message(codec.Frame(10, 0x82, body))
    assert isinstance(msg, Define) and msg.params is None


def test_define_of_an_old_sender_without_expiry() -> None:
    body = bytes.fromhex("01") + b"\x04be_x" + bytes.fromhex("0621") + encode_varint(1)
    msg = decode_message(codec.Frame(10, 0x82, body))
    assert isinstance(msg, Define) and msg.expire_ms is None and msg.params == ()


_VALUE = {
    "sint": st.integers(0, (1 << 32) - 1),
    "uint": st.integers(0, (1 << 32) - 1),
    "ull": st.integers(0, (1 << 64) - 1),
    "frqp": st.tuples(
        st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1), st.integers(0, 1 << 32)
    ),
    "dict": st.none() | st.text(min_size=1, max_size=20),
}


@st.composite
def entries(draw: st.DrawFn) -> tuple[TableLayout, bytes | int, dict]:
    kind = draw(st.sampled_from([2, 4, 5, 6, 7]))
    if kind == 2:
        key: bytes | int = draw(st.integers(0, (1 << 32) - 1))
        key_len = 4
    elif kind == 6:
        key_len = draw(st.integers(2, 64))
        key = draw(st.binary(max_size=key_len - 1))
    else:
        key_len = {4: 4, 5: 16}.get(kind) or draw(st.integers(1, 40))
        key = draw(st.binary(min_size=key_len, max_size=key_len))
    types = draw(st.sets(st.integers(0, len(codec.DATA_TYPES) - 1), max_size=8))
    nbelem = {t: draw(st.integers(0, 4)) for t in types if codec.DATA_TYPES[t][2]}
    values: dict = {}
    for t in types:
        std = codec.DATA_TYPES[t][1]
        if t in nbelem:
            values[t] = tuple(draw(_VALUE[std]) for _ in range(nbelem[t]))
        else:
            values[t] = draw(_VALUE[std])
    bits = sum(1 << t for t in types)
    return TableLayout(kind, key_len, bits, nbelem), key, values


@given(entries(), st.integers(1, 3))
def test_entries_round_trip_with_their_dictionary(case: tuple, times: int) -> None:
    layout, key, values = case
    tx, rx = TxDict(), RxDict()
    for _ in range(times):  # later sends use dictionary references
        data = encode_entry(key, layout, values, tx)
        back = decode_entry(data, layout, rx)
        assert back.key == key
        assert dict(back.values) == values


def test_long_string_keys_are_cut_to_the_table() -> None:
    tx = TxDict()
    data = encode_entry(b"x" * 40, TableLayout(6, 41, 0), {}, tx)
    entry = decode_entry(data + b"\x07", TableLayout(6, 33, 0), RxDict())
    assert entry.key == b"x" * 32


def test_tx_dictionary_is_128_slots_round_robin() -> None:
    tx = TxDict()
    for i in range(128):
        assert tx.lookup(f"s{i}") == (i, False)
    assert tx.lookup("s5") == (5, True)
    assert tx.lookup("new") == (0, False)  # replaces the oldest slot
    assert tx.lookup("s0") == (1, False)


def test_negative_server_id_is_sent_as_haproxy_casts_it() -> None:
    layout = TableLayout(6, 33, 1)
    data = encode_entry(b"k", layout, {0: -1}, TxDict())
    assert decode_entry(data, layout, RxDict()).server_id == -1


# --- handshake -----------------------------------------------------------------------------------


def test_hello_bytes_as_haproxy_sends_them() -> None:
    assert codec.Hello("lbB", "lbA", 12376).encode() == b"HAProxyS 2.1\nlbB\nlbA 12376 1\n"
    assert codec.Hello("lbB", "lbA", 12376, 0).encode() == b"HAProxyS 2.0\nlbB\nlbA 12376 1\n"
    assert codec.encode_status(200) == b"200\n"


@pytest.mark.parametrize(
    ("index", "line", "expected"),
    [
        (0, "HAProxyS 2.1", (None, 1)),
        (0, "HAProxyS 2.0", (None, 0)),
        (0, "HAProxyX 2.1", (501, None)),
        (0, "HAProxyS2.1", (501, None)),
        (0, "HAProxyS 3.0", (502, None)),
        (0, "HAProxyS 2.2", (502, None)),
        (0, "HAProxyS 2", (502, None)),
        (0, "HAProxyS 2.1x", (502, None)),
        (1, "lbB", (None, "lbB")),
        (1, "lbC", (503, None)),
        (2, "lbA 123 1", (None, "lbA")),
        (2, "lbA", (501, None)),
    ],
)
def test_hello_lines(index: int, line: str, expected: tuple) -> None:
    assert codec.parse_hello_line(index, line, "lbB") == expected


def test_error_messages() -> None:
    assert encode_message(Error(codec.ERR_PROTO)) == b"\x01\x00"
    assert encode_message(Error(codec.ERR_SIZE)) == b"\x01\x01"
