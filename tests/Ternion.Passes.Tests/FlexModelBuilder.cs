using Ternion.IR;

namespace Ternion.Passes.Tests;

/// <summary>Builds small graphs in code: a modifier body, or a main graph, with terse op calls.</summary>
public sealed class GraphBuilder
{
    public GraphBuilder(NameAuthority names, string name) { Graph = new Graph(names) { Name = name }; }
    public GraphBuilder(Graph graph) { Graph = graph; }

    public Graph Graph { get; }

    /// <summary>An input; no dims makes it a scalar, a null shape leaves the shape undeclared.</summary>
    public Value Input(string name, DataType type, params long[] dims) => Graph.AddInput(name, IrType.Tensor(type, dims));
    public Value Input(string name, DataType type, Shape? shape) => Graph.AddInput(name, IrType.Tensor(type, shape));

    public Value Op(string op, params Value?[] inputs) => Op(op, inputs, []);

    public Value Op(string op, Value?[] inputs, params Attribute[] attributes) => OpIn("", op, inputs, attributes);

    public Value OpIn(string domain, string op, Value?[] inputs, params Attribute[] attributes)
    {
        var n = Graph.Append(new Node(domain, op, inputs, 1, attributes));
        return n.Output();
    }

    public Value Init<T>(string name, DataType type, long[] dims, T[] values) where T : unmanaged =>
        Graph.AddInitializer(Tensor.FromArray(name, type, dims, values), name);

    public Value F32(string name, float v) => Init(name, DataType.Float, [], new[] { v });
    public Value I64(string name, long v) => Init(name, DataType.Int64, [], new[] { v });
    public Value Cast(Value v, DataType to) => Op("Cast", [v], Attribute.Int("to", (long)to));

    public Value Output(Value v, DataType type, params long[] dims)
    {
        v.Type = IrType.Tensor(type, dims);
        Graph.Outputs.Add(v);
        return v;
    }
}

/// <summary>A model with one FlexAttention node (Q, K, V -> Y) to which tests add modifiers and attributes.</summary>
public sealed class FlexModel
{
    public FlexModel(DataType t, Shape q, Shape k, Shape v, int opset = 26)
    {
        T = t;
        Main = new GraphBuilder(new Graph { Name = "flex_test" });
        Model = new Model(Main.Graph) { IrVersion = 10, ProducerName = "ternion-tests" };
        Model.OpsetImports.Add(new OpsetId("", opset));
        Model.OpsetImports.Add(new OpsetId("ai.onnx.preview", 1));
        Q = Main.Input("Q", t, q);
        K = Main.Input("K", t, k);
        V = Main.Input("V", t, v);
    }

    public FlexModel(DataType t, long b, long hq, long hkv, long l, long s, long e, long ev, int opset = 26)
        : this(t, new Shape(b, hq, l, e), new Shape(b, hkv, s, e), new Shape(b, hkv, s, ev), opset) { }

    public DataType T { get; }
    public Model Model { get; }
    public GraphBuilder Main { get; }
    public Value Q { get; }
    public Value K { get; }
    public Value V { get; }
    public Node? Node { get; private set; }

    /// <summary>A modifier body builder sharing the model's names.</summary>
    public GraphBuilder Body(string name) => new(Model.Names, name);

    /// <summary>An element-wise score_mod/prob_mod body: (score, b, h, q_idx, kv_idx) scalars.</summary>
    public (GraphBuilder g, Value s, Value b, Value h, Value q, Value k) ScoreBody(string name, DataType sp = DataType.Float, DataType index = DataType.Int64)
    {
        var g = Body(name);
        return (g, g.Input("score", sp), g.Input("b", index), g.Input("h", index), g.Input("q_idx", index), g.Input("kv_idx", index));
    }

    /// <summary>An element-wise mask_mod body: (b, h, q_idx, kv_idx) scalars.</summary>
    public (GraphBuilder g, Value b, Value h, Value q, Value k) MaskBody(string name, DataType index = DataType.Int64)
    {
        var g = Body(name);
        return (g, g.Input("b", index), g.Input("h", index), g.Input("q_idx", index), g.Input("kv_idx", index));
    }

    public Node Attend(string name, params Attribute[] attributes)
    {
        Node = Main.Graph.Append(new Node("ai.onnx.preview", "FlexAttention", [Q, K, V], [new Value("Y")], attributes, name));
        Main.Graph.Outputs.Add(Node.Output());
        Node.Output().Type = IrType.Tensor(T, (Shape?)null);
        return Node;
    }
}
