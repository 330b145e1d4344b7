using System.Text;
using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR;

public enum AttributeKind
{
    Undefined = 0, Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5, Floats = 6, Ints = 7,
    Strings = 8, Tensors = 9, Graphs = 10, SparseTensor = 11, SparseTensors = 12, TypeProto = 13, TypeProtos = 14,
}

/// <summary>
/// A node attribute. Scalars and lists are read from the proto as read; tensors and subgraphs are IR
/// objects (so passes see and rewrite subgraphs like any graph). Attributes are replaced, not edited.
/// </summary>
public sealed class Attribute
{
    // The attribute as read, minus tensors and graphs (which live in the IR fields below).
    private readonly AttributeProto _proto;
    // 't'/'g' (single) and 'tensors'/'graphs' (lists) are kept apart so a file that sets both round-trips.
    private readonly Tensor? _t;
    private readonly Graph? _g;
    private readonly List<Tensor> _tensorList = new();
    private readonly List<Graph> _graphList = new();

    internal Attribute(AttributeProto rest, Tensor? t, IEnumerable<Tensor> tensors, Graph? g, IEnumerable<Graph> graphs)
    {
        _proto = rest;
        _t = t; _g = g;
        _tensorList.AddRange(tensors);
        _graphList.AddRange(graphs);
    }

    private Attribute(AttributeProto rest, IEnumerable<Tensor> tensors, IEnumerable<Graph> graphs)
        : this(rest,
               rest.Type == AttributeProto.Types.AttributeType.Tensor ? tensors.FirstOrDefault() : null,
               rest.Type == AttributeProto.Types.AttributeType.Tensor ? [] : tensors,
               rest.Type == AttributeProto.Types.AttributeType.Graph ? graphs.FirstOrDefault() : null,
               rest.Type == AttributeProto.Types.AttributeType.Graph ? [] : graphs) { }

    internal Tensor? SingleTensor => _t;
    internal Graph? SingleGraph => _g;
    internal IReadOnlyList<Tensor> TensorList => _tensorList;
    internal IReadOnlyList<Graph> GraphList => _graphList;

    public string Name => _proto.Name;
    public AttributeKind Kind => _proto.HasType ? (AttributeKind)(int)_proto.Type : AttributeKind.Undefined;
    /// <summary>In a function body: the caller's attribute this one refers to.</summary>
    public string? RefAttrName => _proto.HasRefAttrName ? _proto.RefAttrName : null;
    public string? DocString => _proto.HasDocString ? _proto.DocString : null;

    public float AsFloat => _proto.F;
    public long AsInt => _proto.I;
    public string AsString => _proto.S.ToStringUtf8();
    public byte[] AsBytes => _proto.S.ToByteArray();
    public IReadOnlyList<float> AsFloats => _proto.Floats;
    public IReadOnlyList<long> AsInts => _proto.Ints;
    public IReadOnlyList<string> AsStrings => _proto.Strings.Select(s => s.ToStringUtf8()).ToList();
    public Tensor? AsTensor => _t;
    public IReadOnlyList<Tensor> Tensors => _tensorList;
    public Graph? AsGraph => _g;
    /// <summary>Every subgraph this attribute holds (one for GRAPH, any number for GRAPHS).</summary>
    public IReadOnlyList<Graph> Graphs => _g is null ? _graphList : _graphList.Count == 0 ? [_g] : [_g, .. _graphList];
    public IrType? AsTypeProto => _proto.Tp is { } t ? IrType.FromProto(t) : null;

    /// <summary>The non-IR parts, cloned (graphs and tensors are written by the serializer).</summary>
    internal AttributeProto RestProto => _proto;

    public static Attribute Float(string name, float v) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v }, [], []);
    public static Attribute Int(string name, long v) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v }, [], []);
    public static Attribute String(string name, string v) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) }, [], []);
    public static Attribute Ints(string name, IEnumerable<long> v)
    {
        var p = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        p.Ints.AddRange(v);
        return new(p, [], []);
    }
    public static Attribute Floats(string name, IEnumerable<float> v)
    {
        var p = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        p.Floats.AddRange(v);
        return new(p, [], []);
    }
    public static Attribute Strings(string name, IEnumerable<string> v)
    {
        var p = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
        p.Strings.AddRange(v.Select(ByteString.CopyFromUtf8));
        return new(p, [], []);
    }
    public static Attribute FromTensor(string name, Tensor t) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Tensor }, [t], []);
    public static Attribute FromGraph(string name, Graph g) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Graph }, [], [g]);
    public static Attribute FromGraphs(string name, IEnumerable<Graph> gs) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Graphs }, [], gs);
    public static Attribute Reference(string name, string refAttrName, AttributeKind kind) =>
        new(new AttributeProto { Name = name, RefAttrName = refAttrName, Type = (AttributeProto.Types.AttributeType)(int)kind }, [], []);

    /// <summary>
    /// A copy of this attribute holding <paramref name="graphs"/> instead of its own subgraphs (same name,
    /// kind, doc string and reference), for passes that clone a node together with its subgraphs.
    /// </summary>
    public Attribute WithGraphs(IReadOnlyList<Graph> graphs)
    {
        if (graphs.Count != Graphs.Count)
            throw new IrMutationException($"attribute '{Name}' holds {Graphs.Count} graph(s); {graphs.Count} given to replace them");
        var single = _g is null ? null : graphs[0];
        var list = _g is null ? graphs : graphs.Skip(1);
        return new Attribute(_proto.Clone(), _t, _tensorList, single, list);
    }

    public override string ToString() => Kind switch
    {
        AttributeKind.Float => $"{Name}={AsFloat}",
        AttributeKind.Int => $"{Name}={AsInt}",
        AttributeKind.String => $"{Name}=\"{AsString}\"",
        AttributeKind.Ints => $"{Name}=[{string.Join(",", AsInts)}]",
        AttributeKind.Floats => $"{Name}=[{string.Join(",", AsFloats)}]",
        _ => $"{Name}:{Kind}",
    };
}
