using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

/// <summary>
/// Writes a model whose large inline tensors never sit in memory together: the ModelProto is built
/// with each large tensor's data field left out (a stub), serialized by Google.Protobuf into a
/// small skeleton, and written out with every left-out field put back in its place — tag, length,
/// then the bytes streamed from the tensor's data (in the kernel, with copy_file_range, when they
/// come unchanged from a model file) — and the lengths of the enclosing messages rewritten. The
/// result is byte for byte what Google.Protobuf would write for the whole message: it writes the
/// known fields of a message in field-number order and its unknown fields after them, so a data
/// field goes right after the serialized fields with lower numbers.
/// </summary>
internal sealed class SplicingWriter
{
    private const int MaxWalkDepth = 100_000;

    private sealed class Splice
    {
        public required TensorProto Stub { get; init; }
        public required string Name { get; init; }
        public required int Field { get; init; }
        public required long Length { get; init; }
        public required Action<Stream> WriteBytes { get; init; }
        /// <summary>Serialized size of the stub's fields numbered below <see cref="Field"/>.</summary>
        public int HeadSize { get; set; }
    }

    private readonly Dictionary<TensorProto, Splice> _splices = new(ReferenceEqualityComparer.Instance);
    private readonly Action<long>? _written;
    private byte[]? _skeleton;
    private WireFrame? _root;

    /// <param name="written">Told the byte count of each tensor after it is written (for progress).</param>
    public SplicingWriter(Action<long>? written = null) { _written = written; }

    /// <summary>Whether <see cref="Inline"/> streams this tensor's bytes rather than putting them in the proto.</summary>
    public static bool Streams(Tensor t) =>
        t.Data is ProtoTensorData pd ? pd.Payload is not null : t.DataType != DataType.String && t.ByteLength >= PayloadReader.Threshold;

    /// <summary>The TensorProto of a tensor stored inline: complete for a small tensor, a stub for a large one.</summary>
    public TensorProto Inline(Tensor t)
    {
        if (!Streams(t)) return ProtoWriter.Inline(t);
        TensorProto stub;
        Splice splice;
        if (t.Data is ProtoTensorData { Payload: { } payload } pd)
        {
            stub = pd.Proto.Clone();
            ProtoWriter.WriteHeader(t, stub);
            splice = new Splice { Stub = stub, Name = t.Name ?? "", Field = payload.Field, Length = payload.Length, WriteBytes = payload.CopyEncodedTo };
        }
        else
        {
            stub = ProtoWriter.NewWithResidue(t);
            ProtoWriter.WriteHeader(t, stub);
            var data = t.Data;
            splice = new Splice { Stub = stub, Name = t.Name ?? "", Field = TensorPayload.RawData, Length = data.Length, WriteBytes = data.CopyTo };
        }
        _splices.Add(stub, splice);
        return stub;
    }

    /// <summary>
    /// Serialized size of the fields of <paramref name="stub"/> numbered below <paramref name="field"/>
    /// (a data field: 4, 5, 7, 9, 10 or 11). Spelled out rather than read from the message
    /// descriptor, whose first use costs about 0.1 s of reflection in every process that saves; the
    /// tests check this against the descriptor.
    /// </summary>
    internal static int HeadSize(TensorProto stub, int field)
    {
        if (field > TensorPayload.Uint64Data) throw new ArgumentOutOfRangeException(nameof(field), field, "not a data field");
        var head = new TensorProto();
        head.Dims.AddRange(stub.Dims);                                         // 1
        if (stub.HasDataType) head.DataType = stub.DataType;                   // 2
        if (field > 3 && stub.Segment is not null) head.Segment = stub.Segment; // 3
        if (field > 4) head.FloatData.AddRange(stub.FloatData);
        if (field > 5) head.Int32Data.AddRange(stub.Int32Data);
        if (field > 6) head.StringData.AddRange(stub.StringData);
        if (field > 7) head.Int64Data.AddRange(stub.Int64Data);
        if (field > 8 && stub.HasName) head.Name = stub.Name;
        if (field > 9 && stub.HasRawData) head.RawData = stub.RawData;
        if (field > 10) head.DoubleData.AddRange(stub.DoubleData);
        return head.CalculateSize();
    }

    /// <summary>Serializes the skeleton of <paramref name="proto"/> (built with <see cref="Inline"/>) and returns the size of the whole file.</summary>
    public long Prepare(ModelProto proto)
    {
        // Measured on the finished tree: the caller may still change a stub after Inline returns
        // it (ProtoWriter sets an initializer's name to its value's, which a pass may have renamed).
        foreach (var s in _splices.Values) s.HeadSize = HeadSize(s.Stub, s.Field);
        _skeleton = proto.ToByteArray();
        var byPath = new Dictionary<string, Splice>(StringComparer.Ordinal);
        TensorPaths.Each(proto, (key, t) =>
        {
            if (_splices.TryGetValue(t, out var s)) byPath.Add(key, s);
        });
        if (byPath.Count != _splices.Count)
            throw new InvalidOperationException($"{_splices.Count - byPath.Count} streamed tensor(s) are not where the writer looks for them");
        var inserter = new Inserter(byPath, this);
        _root = TensorFieldWalker.Walk(_skeleton, MaxWalkDepth, inserter)
            ?? throw new TernionException($"the model is nested more than {MaxWalkDepth:N0} messages deep; it cannot be written");
        if (inserter.Placed != byPath.Count)
            throw new InvalidOperationException($"{byPath.Count - inserter.Placed} streamed tensor(s) were not found in the serialized model");
        return WireSplicer.Measure(_root);
    }

    /// <summary>Writes the model prepared by <see cref="Prepare"/>.</summary>
    public void WriteTo(Stream output)
    {
        if (_root is null || _skeleton is null) throw new InvalidOperationException("Prepare first");
        WireSplicer.Emit(_skeleton, _root, output);
    }

    private void WriteField(Splice s, Stream output)
    {
        Span<byte> head = stackalloc byte[16];
        int n = ProtoWire.WriteVarint(head, (ulong)((s.Field << 3) | ProtoWire.LengthDelimitedType));
        n += ProtoWire.WriteVarint(head[n..], (ulong)s.Length);
        output.Write(head[..n]);
        long before = output.Position;
        s.WriteBytes(output);
        long wrote = output.Position - before;
        if (wrote != s.Length) throw new TernionException($"tensor '{s.Name}': wrote {wrote:N0} bytes, expected {s.Length:N0}");
        _written?.Invoke(wrote);
    }

    private sealed class Inserter(Dictionary<string, Splice> byPath, SplicingWriter writer) : ITensorFieldVisitor
    {
        public int Placed { get; private set; }

        public bool VisitTensor(ReadOnlySpan<byte> data, int start, int end, WirePath path, out List<WireEdit>? edits)
        {
            edits = null;
            if (!byPath.TryGetValue(path.Key(), out var s)) return true;
            if (s.HeadSize > end - start) throw new InvalidOperationException($"tensor '{s.Name}': its fields before the data ({s.HeadSize} bytes) are longer than the whole serialized tensor ({end - start})");
            long fieldSize = ProtoWire.VarintSize((ulong)((s.Field << 3) | ProtoWire.LengthDelimitedType)) + ProtoWire.VarintSize((ulong)s.Length) + s.Length;
            edits = [new WireEdit { Position = start + s.HeadSize, InsertLength = fieldSize, Write = o => writer.WriteField(s, o) }];
            Placed++;
            return true;
        }
    }
}
