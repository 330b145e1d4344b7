using Ternion.IR;
using Attribute = Ternion.IR.Attribute;

namespace Ternion.SampleGen;

/// <summary>
/// Appends standard-domain nodes to a graph with readable, model-unique output names (the node gets
/// the same name, so an error about it points at the right place in the sample).
/// </summary>
internal sealed class GraphBuilder(Graph graph)
{
    public Graph Graph { get; } = graph;

    public Value Op(string opType, string name, IEnumerable<Value> inputs, params Attribute[] attributes) =>
        OpIn("", opType, name, inputs, attributes);

    public Value OpIn(string domain, string opType, string name, IEnumerable<Value> inputs, params Attribute[] attributes)
    {
        string unique = Graph.Names.Claim(name);
        var node = new Node(domain, opType, inputs, [new Value(unique)], attributes, unique);
        Graph.Append(node);
        return node.Output();
    }

    public Value Floats(string name, long[] dims, float[] values) =>
        Graph.AddInitializer(Tensor.FromArray(name, DataType.Float, dims, values));

    public Value Int64s(string name, params long[] values) =>
        Graph.AddInitializer(Tensor.FromArray(name, DataType.Int64, [values.Length], values));

    public Value ScalarFloat(string name, float value) =>
        Graph.AddInitializer(Tensor.FromArray(name, DataType.Float, [], new[] { value }));

    public Value ScalarInt64(string name, long value) =>
        Graph.AddInitializer(Tensor.FromArray(name, DataType.Int64, [], new[] { value }));
}
