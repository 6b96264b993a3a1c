"""An independent reader of kcv's TensorBoard event files.

usage: tb_read.py LOGDIR T0 T1
  LOGDIR holds train/ and validation/, written by `tests/check_tb LOGDIR`
  between the Unix times T0 and T1 (seconds).

It frames TFRecords itself, checks both CRCs with a bitwise CRC-32C written
here, parses every record with google.protobuf (message classes built at run
time from descriptors, no protoc), re-serialises each event to the same bytes,
and compares tags, steps and float32 values with EXPECTED (the table in
tests/check_tb.c). Exit status 0 when everything matches, 1 otherwise, 77 when
google.protobuf is missing. A corrupted file fails with a message that says
which record and which check.
"""
import math
import os
import re
import socket
import struct
import sys

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    print("SKIP: no google.protobuf for %s (apt-get install python3-protobuf)" % sys.executable)
    sys.exit(77)

LONG_TAG = "edge/" + "x" * 300
# (run, tag, step, value): keep in step with `scalars` in tests/check_tb.c
EXPECTED = [
    ("train", "epoch_loss", 0, 1.75),
    ("train", "epoch_learning_rate", 0, 0.1),
    ("validation", "epoch_loss", 0, 1.9),
    ("validation", "epoch_MaP", 0, 0.0125),
    ("train", "epoch_loss", 1, 1.25),
    ("train", "epoch_learning_rate", 1, 0.1),
    ("validation", "epoch_loss", 1, 1.4),
    ("validation", "epoch_MaP", 1, 0.25),
    ("train", "epoch_loss", 2, 0.875),
    ("train", "epoch_learning_rate", 2, 0.01),
    ("validation", "epoch_loss", 2, 1.05),
    ("validation", "epoch_MaP", 2, 1.0 / 3.0),
    ("train", "edge/large_step", 2**40, 3.0),
    ("train", "edge/negative_step", -7, -1.5),
    ("train", "edge/subnormal", 1, 1e-45),
    ("train", "edge/overflow", 2, 1e39),
    ("train", "edge/inf", 3, math.inf),
    ("train", "edge/minus_inf", 4, -math.inf),
    ("train", "edge/nan", 5, math.nan),
    ("train", "edge/minus_zero", 6, -0.0),
    ("train", "edge/gr\u00f6\u00dfe \u2713", 7, 42.0),
    ("train", LONG_TAG, 8, 0.5),
]


class Bad(Exception):
    pass


# ---- CRC-32C, bit by bit ------------------------------------------------------


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283
assert crc32c(bytes(32)) == 0x8A9136AA


def records(blob, name):
    """The data of each TFRecord in blob."""
    off, out = 0, []
    while off < len(blob):
        if len(blob) - off < 12:
            raise Bad("%s: record %d: truncated header (%d bytes)" % (name, len(out), len(blob) - off))
        (length,) = struct.unpack_from("<Q", blob, off)
        (len_crc,) = struct.unpack_from("<I", blob, off + 8)
        if len_crc != masked(crc32c(blob[off : off + 8])):
            raise Bad("%s: record %d: length CRC mismatch" % (name, len(out)))
        if len(blob) - off - 12 < length + 4:
            raise Bad("%s: record %d: truncated data" % (name, len(out)))
        data = blob[off + 12 : off + 12 + length]
        (data_crc,) = struct.unpack_from("<I", blob, off + 12 + length)
        if data_crc != masked(crc32c(data)):
            raise Bad("%s: record %d: data CRC mismatch" % (name, len(out)))
        out.append(data)
        off += 12 + length + 4
    return out


# ---- the messages (tensorflow/core/util/event.proto, framework/summary.proto) --


def message_classes():
    fdp = descriptor_pb2.FileDescriptorProto(name="kcv_tb_event.proto", package="tensorflow", syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto

    def field(msg, name, number, ftype, type_name=None, label=F.LABEL_OPTIONAL, oneof=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    meta = fdp.message_type.add(name="SummaryMetadata")
    plugin = meta.nested_type.add(name="PluginData")
    field(plugin, "plugin_name", 1, F.TYPE_STRING)
    field(plugin, "content", 2, F.TYPE_BYTES)
    field(meta, "plugin_data", 1, F.TYPE_MESSAGE, ".tensorflow.SummaryMetadata.PluginData")
    field(meta, "display_name", 2, F.TYPE_STRING)
    field(meta, "summary_description", 3, F.TYPE_STRING)

    summary = fdp.message_type.add(name="Summary")
    value = summary.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    field(value, "node_name", 7, F.TYPE_STRING)
    field(value, "tag", 1, F.TYPE_STRING)
    field(value, "metadata", 9, F.TYPE_MESSAGE, ".tensorflow.SummaryMetadata")
    field(value, "simple_value", 2, F.TYPE_FLOAT, oneof=0)
    field(summary, "value", 1, F.TYPE_MESSAGE, ".tensorflow.Summary.Value", label=F.LABEL_REPEATED)

    event = fdp.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    field(event, "wall_time", 1, F.TYPE_DOUBLE)
    field(event, "step", 2, F.TYPE_INT64)
    field(event, "file_version", 3, F.TYPE_STRING, oneof=0)
    field(event, "summary", 5, F.TYPE_MESSAGE, ".tensorflow.Summary", oneof=0)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tensorflow.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


# ---- checks ------------------------------------------------------------------------


def f32(x):
    """x rounded to float32 as C's (float)x does (overflow gives inf)."""
    if math.isfinite(x) and abs(x) >= 2.0**128 * (1 - 2.0**-25):
        return math.copysign(math.inf, x)
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same_float(got, want):
    if math.isnan(want):
        return math.isnan(got)
    return struct.pack("<f", got) == struct.pack("<f", want)


def check_name(path, t0, t1):
    name = os.path.basename(path)
    m = re.fullmatch(r"events\.out\.tfevents\.(\d+)\.(.+)\.(\d+)\.(\d+)", name)
    if not m:
        raise Bad("%s: not an events.out.tfevents.<secs>.<host>.<pid>.<n> name" % path)
    secs, host, pid, n = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    if not math.floor(t0) <= secs <= t1:
        raise Bad("%s: time %d not in [%f, %f]" % (path, secs, t0, t1))
    if host != socket.gethostname():
        raise Bad("%s: host %r, expected %r" % (path, host, socket.gethostname()))
    if n != 0:
        raise Bad("%s: counter %d, expected 0 (a fresh folder)" % (path, n))
    return pid


def check_run(Event, folder, run, t0, t1):
    files = sorted(f for f in os.listdir(folder) if "tfevents" in f)
    if len(files) != 1:
        raise Bad("%s: %d event files, expected 1" % (folder, len(files)))
    path = os.path.join(folder, files[0])
    pid = check_name(path, t0, t1)
    with open(path, "rb") as f:
        blob = f.read()
    events = []
    for i, data in enumerate(records(blob, path)):
        ev = Event()
        try:
            ev.ParseFromString(data)
        except Exception as e:  # DecodeError, or invalid UTF-8 in a string
            raise Bad("%s: record %d is not an Event: %s" % (path, i, e))
        # every byte accounted for: no unknown fields, canonical encoding
        if ev.SerializeToString(deterministic=True) != data:
            raise Bad("%s: record %d does not re-serialise to the same bytes" % (path, i))
        events.append(ev)
    if not events or events[0].WhichOneof("what") != "file_version":
        raise Bad("%s: the first event has no file_version" % path)
    if events[0].file_version != "brain.Event:2" or events[0].step != 0:
        raise Bad("%s: first event %r" % (path, events[0]))
    want = [e for e in EXPECTED if e[0] == run]
    if len(events) - 1 != len(want):
        raise Bad("%s: %d scalar events, expected %d" % (path, len(events) - 1, len(want)))
    last_wall, seen = 0.0, set()
    for i, ev in enumerate(events):
        if not t0 <= ev.wall_time <= t1:
            raise Bad("%s: event %d: wall_time %f not in [%f, %f]" % (path, i, ev.wall_time, t0, t1))
        if ev.wall_time < last_wall:
            raise Bad("%s: event %d: wall_time goes back" % (path, i))
        last_wall = ev.wall_time
        if i == 0:
            continue
        _, tag, step, value = want[i - 1]
        if ev.WhichOneof("what") != "summary" or len(ev.summary.value) != 1:
            raise Bad("%s: event %d: expected a summary with one value" % (path, i))
        v = ev.summary.value[0]
        if v.tag != tag or ev.step != step or v.WhichOneof("value") != "simple_value":
            raise Bad("%s: event %d: got (%r, %d, %s), expected (%r, %d)" % (
                path, i, v.tag, ev.step, v.WhichOneof("value"), tag, step))
        if not same_float(v.simple_value, f32(value)):
            raise Bad("%s: event %d (%s): value %r, expected float32 %r" % (path, i, tag, v.simple_value, f32(value)))
        # the first value of a tag says which plugin shows it, later ones don't
        first = tag not in seen
        seen.add(tag)
        has_meta = v.HasField("metadata")
        if has_meta != first or (first and v.metadata.plugin_data.plugin_name != "scalars"):
            raise Bad("%s: event %d (%s): metadata %r, first use %s" % (path, i, tag, v.metadata, first))
    print("%s: %d records, CRCs and %d scalars ok" % (path, len(events), len(want)))
    return pid


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    logdir, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    Event = message_classes()
    try:
        pids = {check_run(Event, os.path.join(logdir, run), run, t0, t1) for run in ("train", "validation")}
        if len(pids) != 1:
            raise Bad("the two files name different processes: %s" % sorted(pids))
    except Bad as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
