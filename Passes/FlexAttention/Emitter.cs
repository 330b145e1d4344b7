using Ternion.IR;

namespace Ternion.Passes.FlexAttention;

/// <summary>
/// Adds standard ONNX nodes to one graph, either before an anchor node (so the new nodes come
/// before the node they replace and the graph stays in order) or at the end (a new subgraph).
/// Names are fresh and carry a prefix that says which FlexAttention node they come from. It also
/// remembers the lowest default-domain opset the emitted ops need.
/// </summary>
internal sealed class Emitter
{
    private readonly Node? _anchor;
    private readonly bool _constantsAsNodes;
    private readonly Dictionary<string, Value> _cache = new(StringComparer.Ordinal);

    /// <param name="constantsAsNodes">Emit constants as Constant nodes: function bodies have no initializers.</param>
    public Emitter(Graph graph, Node? anchor, string prefix, bool constantsAsNodes)
    {
        Graph = graph;
        _anchor = anchor;
        Prefix = prefix;
        _constantsAsNodes = constantsAsNodes;
    }

    public Graph Graph { get; }
    public string Prefix { get; }
    public NameAuthority Names => Graph.Names;
    /// <summary>The lowest default-domain opset in which every op emitted so far means what it is used for here.</summary>
    public int RequiredOpset { get; private set; } = 1;

    public string FreshName(string hint) => Names.Fresh($"{Prefix}/{hint}");

    public Node Insert(Node node)
    {
        if (_anchor is null) Graph.Append(node); else Graph.InsertBefore(_anchor, node);
        return node;
    }

    /// <summary>Emits a default-domain op with one output (a fresh value, or <paramref name="output"/> when given).</summary>
    public Value Op(string op, IEnumerable<Value?> inputs, string hint, IEnumerable<Attribute>? attributes = null, Value? output = null, DataType elemType = DataType.Undefined)
    {
        RequiredOpset = Math.Max(RequiredOpset, MinOpset(op));
        var result = output ?? new Value(FreshName(hint), elemType == DataType.Undefined ? null : IrType.Tensor(elemType, (Shape?)null));
        Insert(new Node("", op, inputs, [result], attributes, FreshName(op)));
        return result;
    }

    public Value Cast(Value x, DataType to, string hint, Value? output = null) =>
        Op("Cast", [x], hint, [Attribute.Int("to", (long)to)], output, to);

    /// <summary>A constant, made once per key.</summary>
    public Value Cached(string key, Func<Value> make)
    {
        if (!_cache.TryGetValue(key, out var v)) _cache[key] = v = make();
        return v;
    }

    public Value Constant(Tensor tensor, string hint)
    {
        if (_constantsAsNodes)
        {
            tensor.Name = null;
            return Op("Constant", [], hint, [Attribute.FromTensor("value", tensor)], elemType: tensor.DataType);
        }
        return Graph.AddInitializer(tensor, $"{Prefix}/{hint}");
    }

    public Value ScalarInt64(long v) => Cached($"i64:{v}", () => Constant(Tensor.FromArray(null, DataType.Int64, [], new[] { v }), $"c{v}"));

    public Value VectorInt64(long[] v, string hint) =>
        Cached($"i64[]:{string.Join(",", v)}", () => Constant(Tensor.FromArray(null, DataType.Int64, [v.Length], v), hint));

    public Value ScalarFloat(float v, string hint) =>
        Cached($"f32:{BitConverter.SingleToInt32Bits(v)}", () => Constant(Tensor.FromArray(null, DataType.Float, [], new[] { v }), hint));

    public Value ScalarDouble(double v, string hint) =>
        Cached($"f64:{BitConverter.DoubleToInt64Bits(v)}", () => Constant(Tensor.FromArray(null, DataType.Double, [], new[] { v }), hint));

    /// <summary>
    /// A float32 number as a scalar of <paramref name="type"/>: exact for float and double; other
    /// types get a Cast node so the rounding is the runtime's own (the reference casts the same way).
    /// </summary>
    public Value ScalarOf(float v, DataType type, string hint) => type switch
    {
        DataType.Float => ScalarFloat(v, hint),
        DataType.Double => ScalarDouble(v, hint),
        _ => Cached($"{type}:{BitConverter.SingleToInt32Bits(v)}", () => Cast(ScalarFloat(v, hint + "_f32"), type, hint)),
    };

    /// <summary>Opset in which an op gained the form used here (numpy broadcasting from 7, Cast's int 'to' from 6, ...).</summary>
    private static int MinOpset(string op) => op switch
    {
        "Range" => 11,
        "Where" => 9,
        "Expand" => 8,
        "Add" or "Sub" or "Mul" or "Div" => 7,
        "Cast" or "Sqrt" => 6,
        "Reshape" => 5,
        _ => 1,
    };
}
