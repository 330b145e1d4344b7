using System.Text;
using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

/// <summary>Protobuf wire-format primitives, read strictly: anything unusual is reported, not guessed at.</summary>
internal static class ProtoWire
{
    public const int VarintType = 0, Fixed64Type = 1, LengthDelimitedType = 2, Fixed32Type = 5;

    public static bool TryReadVarint(ReadOnlySpan<byte> s, ref int pos, int end, int maxBytes, out ulong value)
    {
        value = 0;
        for (int i = 0, shift = 0; i < maxBytes; i++, shift += 7)
        {
            if (pos >= end) return false;
            byte b = s[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }

    /// <summary>
    /// A tag of at most 5 bytes with a field number of 1 or more and a wire type other than a group.
    /// Google.Protobuf accepts a few more spellings (longer tags, groups); those files are left to it.
    /// </summary>
    public static bool TryReadTag(ReadOnlySpan<byte> s, ref int pos, int end, out int field, out int wireType)
    {
        field = wireType = 0;
        if (!TryReadVarint(s, ref pos, end, 5, out ulong tag) || tag > uint.MaxValue) return false;
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        return field != 0 && wireType is VarintType or Fixed64Type or LengthDelimitedType or Fixed32Type;
    }

    /// <summary>A length of at most 5 bytes whose value fits an int and whose bytes lie before <paramref name="end"/>.</summary>
    public static bool TryReadLength(ReadOnlySpan<byte> s, ref int pos, int end, out int length)
    {
        length = 0;
        if (!TryReadVarint(s, ref pos, end, 5, out ulong v) || v > int.MaxValue || v > (ulong)(end - pos)) return false;
        length = (int)v;
        return true;
    }

    /// <summary>Skips the value of a field that is not length-delimited.</summary>
    public static bool TrySkipScalar(ReadOnlySpan<byte> s, ref int pos, int end, int wireType)
    {
        switch (wireType)
        {
            case VarintType: return TryReadVarint(s, ref pos, end, 10, out _);
            case Fixed64Type: if (end - pos < 8) return false; pos += 8; return true;
            case Fixed32Type: if (end - pos < 4) return false; pos += 4; return true;
            default: return false;
        }
    }

    public static int VarintSize(ulong v)
    {
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }

    public static int WriteVarint(Span<byte> dst, ulong v)
    {
        int n = 0;
        while (v >= 0x80) { dst[n++] = (byte)(v | 0x80); v >>= 7; }
        dst[n++] = (byte)v;
        return n;
    }
}

/// <summary>
/// The path from ModelProto to a TensorProto as (field number, index among that field's
/// occurrences) pairs, e.g. "7.0/1.12/5.0/5.0" for the tensor attribute of node 12 of the graph.
/// The wire walker and the walk over parsed messages spell it the same way, which is how a field
/// found in the file is matched with the message the parser built.
/// </summary>
internal sealed class WirePath
{
    private int[] _items = new int[32];
    private int _count;

    public void Push(int field, int index)
    {
        if (_count + 2 > _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[_count++] = field;
        _items[_count++] = index;
    }

    public void Pop() => _count -= 2;

    public string Key()
    {
        var sb = new StringBuilder(_count * 3);
        for (int i = 0; i < _count; i += 2)
        {
            if (i > 0) sb.Append('/');
            sb.Append(_items[i]).Append('.').Append(_items[i + 1]);
        }
        return sb.ToString();
    }
}

/// <summary>A length-delimited message field whose body changes: its length is rewritten, its children and edits applied.</summary>
internal sealed class WireFrame
{
    /// <summary>Where the field's length varint starts, and how many bytes it has (the root has none).</summary>
    public int LengthPos = -1, LengthSize;
    /// <summary>The body: [Start, End) in the source bytes.</summary>
    public int Start, End;
    /// <summary>Nested fields that change, in file order.</summary>
    public List<WireFrame>? Children;
    /// <summary>Byte edits directly in this body, in file order.</summary>
    public List<WireEdit>? Edits;
    public long NewLength;
}

/// <summary>Removes <see cref="RemoveLength"/> bytes at <see cref="Position"/> and writes <see cref="InsertLength"/> bytes there.</summary>
internal sealed class WireEdit
{
    public int Position;
    public int RemoveLength;
    public long InsertLength;
    public Action<Stream>? Write;
}

/// <summary>Decides the edits inside one TensorProto found by the walker.</summary>
internal interface ITensorFieldVisitor
{
    /// <summary>Returns false when the tensor's bytes cannot be read strictly (the whole file is then left to the parser).</summary>
    bool VisitTensor(ReadOnlySpan<byte> data, int start, int end, WirePath path, out List<WireEdit>? edits);
}

/// <summary>
/// Walks the wire format of a ModelProto along the fields that can hold IR tensors — graph
/// initializers, tensor attributes of nodes and of function attribute defaults, and subgraphs of
/// any depth — and collects the edits a visitor asks for inside each TensorProto, with the frames
/// of every enclosing message whose length they change. It reads only tags and lengths: the bytes
/// of every other field are skipped without being looked at.
///
/// Two rules keep its reading identical to Google.Protobuf's. It is strict (any spelling it does
/// not expect makes it give up, and the caller leaves the file to the parser, which then accepts
/// or refuses it as it always did); and it does not enter a singular message field that occurs
/// twice in its parent (ModelProto.graph, AttributeProto.t or .g), because the parser merges those
/// occurrences into one message.
/// </summary>
internal ref struct TensorFieldWalker
{
    private enum Kind : byte { None, Model, Graph, Node, Attribute, Function, Tensor }

    private readonly ReadOnlySpan<byte> _data;
    private readonly ITensorFieldVisitor _visitor;
    private readonly int _maxDepth;
    private readonly WirePath _path;

    private TensorFieldWalker(ReadOnlySpan<byte> data, int maxDepth, ITensorFieldVisitor visitor)
    {
        _data = data; _maxDepth = maxDepth; _visitor = visitor; _path = new WirePath();
    }

    /// <summary>The root frame (the whole input) with the edits found, or null when the input cannot be walked strictly.</summary>
    public static WireFrame? Walk(ReadOnlySpan<byte> data, int maxDepth, ITensorFieldVisitor visitor)
    {
        var walker = new TensorFieldWalker(data, maxDepth, visitor);
        if (!walker.WalkMessage(Kind.Model, 0, data.Length, 1, out var children)) return null;
        return new WireFrame { Start = 0, End = data.Length, Children = children };
    }

    /// <summary>The message kind of a field, in the same table as <see cref="TensorPaths"/>.</summary>
    private static Kind ChildOf(Kind parent, int field, out bool repeated)
    {
        repeated = true;
        switch (parent, field)
        {
            case (Kind.Model, 7): repeated = false; return Kind.Graph;
            case (Kind.Model, 25): return Kind.Function;
            case (Kind.Graph, 1): return Kind.Node;
            case (Kind.Graph, 5): return Kind.Tensor;
            case (Kind.Node, 5): return Kind.Attribute;
            case (Kind.Attribute, 5): repeated = false; return Kind.Tensor;
            case (Kind.Attribute, 6): repeated = false; return Kind.Graph;
            case (Kind.Attribute, 10): return Kind.Tensor;
            case (Kind.Attribute, 11): return Kind.Graph;
            case (Kind.Function, 7): return Kind.Node;
            case (Kind.Function, 11): return Kind.Attribute;
            default: return Kind.None;
        }
    }

    private bool WalkMessage(Kind kind, int start, int end, int depth, out List<WireFrame>? changed)
    {
        changed = null;
        if (depth > _maxDepth) return false;
        var s = _data;
        // Singular message fields seen twice (bit per field number; the singular ones are 5, 6 and 7).
        int merged = 0;
        if (kind is Kind.Model or Kind.Attribute)
        {
            int seen = 0;
            for (int pos = start; pos < end;)
            {
                if (!ProtoWire.TryReadTag(s, ref pos, end, out int field, out int wt)) return false;
                if (wt != ProtoWire.LengthDelimitedType) { if (!ProtoWire.TrySkipScalar(s, ref pos, end, wt)) return false; continue; }
                if (!ProtoWire.TryReadLength(s, ref pos, end, out int length)) return false;
                pos += length;
                if (ChildOf(kind, field, out bool repeated) != Kind.None && !repeated)
                {
                    if ((seen & (1 << field)) != 0) merged |= 1 << field;
                    seen |= 1 << field;
                }
            }
        }
        Span<int> occurrences = stackalloc int[32];
        occurrences.Clear();
        for (int pos = start; pos < end;)
        {
            if (!ProtoWire.TryReadTag(s, ref pos, end, out int field, out int wt)) return false;
            if (wt != ProtoWire.LengthDelimitedType) { if (!ProtoWire.TrySkipScalar(s, ref pos, end, wt)) return false; continue; }
            int lengthPos = pos;
            if (!ProtoWire.TryReadLength(s, ref pos, end, out int length)) return false;
            int bodyStart = pos, bodyEnd = pos + length;
            pos = bodyEnd;
            var child = ChildOf(kind, field, out bool isRepeated);
            if (child == Kind.None) continue;
            int index = isRepeated ? occurrences[field]++ : 0;
            if (!isRepeated && (merged & (1 << field)) != 0) continue;
            _path.Push(field, index);
            bool ok;
            List<WireFrame>? grandChildren = null;
            List<WireEdit>? edits = null;
            if (child == Kind.Tensor) ok = _visitor.VisitTensor(s, bodyStart, bodyEnd, _path, out edits);
            else ok = WalkMessage(child, bodyStart, bodyEnd, depth + 1, out grandChildren);
            _path.Pop();
            if (!ok) return false;
            if (grandChildren is not null || edits is not null)
                (changed ??= new()).Add(new WireFrame
                {
                    LengthPos = lengthPos, LengthSize = bodyStart - lengthPos, Start = bodyStart, End = bodyEnd,
                    Children = grandChildren, Edits = edits,
                });
        }
        return true;
    }
}

/// <summary>Applies the edits of a walked input: new lengths for every frame, then the bytes in order.</summary>
internal static class WireSplicer
{
    /// <summary>Computes (and stores) the new body length of a frame and of all frames inside it.</summary>
    public static long Measure(WireFrame frame)
    {
        long length = frame.End - frame.Start;
        if (frame.Children is { } children)
            foreach (var c in children)
            {
                long inner = Measure(c);
                length += ProtoWire.VarintSize((ulong)inner) - c.LengthSize + inner - (c.End - c.Start);
            }
        if (frame.Edits is { } edits)
            foreach (var e in edits) length += e.InsertLength - e.RemoveLength;
        return frame.NewLength = length;
    }

    /// <summary>Writes the body of a measured frame: source bytes, rewritten lengths and edits.</summary>
    public static void Emit(ReadOnlySpan<byte> source, WireFrame frame, Stream output)
    {
        Span<byte> varint = stackalloc byte[10];
        int pos = frame.Start, ci = 0, ei = 0;
        var children = frame.Children;
        var edits = frame.Edits;
        while (true)
        {
            int nextChild = children is not null && ci < children.Count ? children[ci].LengthPos : int.MaxValue;
            int nextEdit = edits is not null && ei < edits.Count ? edits[ei].Position : int.MaxValue;
            if (nextChild == int.MaxValue && nextEdit == int.MaxValue) break;
            if (nextChild < nextEdit)
            {
                var c = children![ci++];
                output.Write(source[pos..c.LengthPos]);
                output.Write(varint[..ProtoWire.WriteVarint(varint, (ulong)c.NewLength)]);
                Emit(source, c, output);
                pos = c.End;
            }
            else
            {
                var e = edits![ei++];
                output.Write(source[pos..e.Position]);
                e.Write?.Invoke(output);
                pos = e.Position + e.RemoveLength;
            }
        }
        output.Write(source[pos..frame.End]);
    }
}

/// <summary>The TensorProtos of a parsed ModelProto with their paths, over the same fields as <see cref="TensorFieldWalker"/>.</summary>
internal static class TensorPaths
{
    public static void Each(ModelProto model, Action<string, TensorProto> visit)
    {
        var path = new WirePath();
        void Tensor(int field, int index, TensorProto t) { path.Push(field, index); visit(path.Key(), t); path.Pop(); }
        void Graph(int field, int index, GraphProto g)
        {
            path.Push(field, index);
            for (int i = 0; i < g.Node.Count; i++) Node(1, i, g.Node[i]);
            for (int i = 0; i < g.Initializer.Count; i++) Tensor(5, i, g.Initializer[i]);
            path.Pop();
        }
        void Node(int field, int index, NodeProto n)
        {
            path.Push(field, index);
            for (int i = 0; i < n.Attribute.Count; i++) Attribute(5, i, n.Attribute[i]);
            path.Pop();
        }
        void Attribute(int field, int index, AttributeProto a)
        {
            path.Push(field, index);
            if (a.T is { } t) Tensor(5, 0, t);
            if (a.G is { } g) Graph(6, 0, g);
            for (int i = 0; i < a.Tensors.Count; i++) Tensor(10, i, a.Tensors[i]);
            for (int i = 0; i < a.Graphs.Count; i++) Graph(11, i, a.Graphs[i]);
            path.Pop();
        }
        if (model.Graph is { } graph) Graph(7, 0, graph);
        for (int i = 0; i < model.Functions.Count; i++)
        {
            var f = model.Functions[i];
            path.Push(25, i);
            for (int j = 0; j < f.Node.Count; j++) Node(7, j, f.Node[j]);
            for (int j = 0; j < f.AttributeProto.Count; j++) Attribute(11, j, f.AttributeProto[j]);
            path.Pop();
        }
    }
}
