using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

/// <summary>
/// Reading without copying tensor bytes. The wire walker finds, in every TensorProto the IR keeps,
/// the one large data field (raw_data, or a packed float_data, int32_data, int64_data, double_data
/// or uint64_data of 1 KiB or more); the file minus those fields — a skeleton of names, nodes,
/// attributes and types, typically a few hundred kilobytes for a multi-gigabyte model — is parsed
/// by Google.Protobuf as before, and each field left out becomes a <see cref="TensorPayload"/>
/// (a view onto its range of the file) attached to the parsed TensorProto it was cut from.
/// </summary>
internal static class PayloadReader
{
    /// <summary>Data fields at least this long stay in the file; shorter ones are parsed (a view costs more than a copy there).</summary>
    public const int Threshold = 1024;

    /// <summary>Deepest nesting the walker follows; deeper files go to the parser whole (its own limit applies).</summary>
    private const int MaxWalkDepth = 2000;

    public sealed class Result
    {
        public required ModelProto Proto { get; init; }
        public IReadOnlyDictionary<TensorProto, TensorPayload>? Payloads { get; init; }
    }

    /// <param name="bytes">The whole model file.</param>
    /// <param name="openWhole">A stream over the same bytes, for parsing the file whole.</param>
    /// <param name="parse">Google.Protobuf's parse, with the limits and error messages of the caller.</param>
    /// <param name="source">Where views read from; null parses the file whole (every tensor byte copied).</param>
    public static Result Read(ReadOnlySpan<byte> bytes, Func<Stream> openWhole, PayloadSource? source, int recursionLimit, Func<Stream, ModelProto> parse)
    {
        var collector = source is null ? null : new Collector(source);
        var root = collector is null ? null : TensorFieldWalker.Walk(bytes, Math.Min(recursionLimit, MaxWalkDepth), collector);
        if (root is null || collector!.ByPath.Count == 0)
        {
            using var whole = openWhole();
            return new Result { Proto = parse(whole) };
        }
        long size = WireSplicer.Measure(root);
        var skeleton = new byte[size];
        using (var ms = new MemoryStream(skeleton, writable: true)) WireSplicer.Emit(bytes, root, ms);
        ModelProto proto;
        using (var ms = new MemoryStream(skeleton, writable: false)) proto = parse(ms);
        var payloads = new Dictionary<TensorProto, TensorPayload>(ReferenceEqualityComparer.Instance);
        TensorPaths.Each(proto, (key, t) =>
        {
            if (collector.ByPath.TryGetValue(key, out var payload)) payloads.Add(t, payload);
        });
        // The walker and the parser read the same bytes by the same rules; a field that finds no
        // message would be a defect here, and losing it silently would lose a tensor.
        if (payloads.Count != collector.ByPath.Count)
            throw new InvalidOperationException($"{source!.Name}: {collector.ByPath.Count - payloads.Count} tensor field(s) left in the file were not matched with a parsed tensor");
        return new Result { Proto = proto, Payloads = payloads };
    }

    /// <summary>Picks the field to leave in the file in each TensorProto, if it has exactly one large data field.</summary>
    private sealed class Collector(PayloadSource source) : ITensorFieldVisitor
    {
        public Dictionary<string, TensorPayload> ByPath { get; } = new(StringComparer.Ordinal);

        public bool VisitTensor(ReadOnlySpan<byte> data, int start, int end, WirePath path, out List<WireEdit>? edits)
        {
            edits = null;
            int candidates = 0, field = 0, tagStart = 0, valueStart = 0, valueEnd = 0;
            uint seen = 0, repeated = 0;
            for (int pos = start; pos < end;)
            {
                int at = pos;
                if (!ProtoWire.TryReadTag(data, ref pos, end, out int f, out int wt)) return false;
                if (f < 32)
                {
                    if ((seen & (1u << f)) != 0) repeated |= 1u << f;
                    seen |= 1u << f;
                }
                if (wt != ProtoWire.LengthDelimitedType) { if (!ProtoWire.TrySkipScalar(data, ref pos, end, wt)) return false; continue; }
                if (!ProtoWire.TryReadLength(data, ref pos, end, out int length)) return false;
                if (length >= Threshold && TensorPayload.IsCandidate(f, out _))
                {
                    candidates++;
                    field = f; tagStart = at; valueStart = pos; valueEnd = pos + length;
                }
                pos += length;
            }
            // One large data field, occurring once: two data fields, or a packed field in several
            // pieces (which the parser concatenates), are rare enough to be parsed as before.
            if (candidates != 1 || (repeated & (1u << field)) != 0) return true;
            var value = data[valueStart..valueEnd];
            TensorPayload.IsCandidate(field, out int size);
            long count;
            if (size == 0)
            {
                // Malformed varints are left to the parser, which names the problem.
                if (!TensorPayload.TryCountVarints(value, out count)) return true;
            }
            else
            {
                if (value.Length % size != 0) return true;
                count = value.Length / size;
            }
            ByPath.Add(path.Key(), new TensorPayload(source, valueStart, valueEnd - valueStart, field, count));
            edits = [new WireEdit { Position = tagStart, RemoveLength = valueEnd - tagStart }];
            return true;
        }
    }
}
