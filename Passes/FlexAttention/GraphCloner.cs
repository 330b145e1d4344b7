using Ternion.IR;

namespace Ternion.Passes.FlexAttention;

/// <summary>
/// Copies nodes and graphs with fresh value names, so a modifier body can be placed into another
/// graph as often as needed. Values are translated through a lookup: a value the lookup does not
/// know is an outer-scope reference and stays as it is (the copy sees the same enclosing scopes).
/// </summary>
internal static class GraphCloner
{
    /// <summary>A new tensor over the same (immutable) bytes.</summary>
    public static Tensor CloneTensor(Tensor t) =>
        new(t.Name, t.DataType, (long[])t.Dims.Clone(), t.Data) { RawDataType = t.RawDataType, DocString = t.DocString };

    /// <summary>Copies <paramref name="node"/> (detached); its subgraphs are copied too and read their free values through <paramref name="lookup"/>.</summary>
    public static Node CloneNode(Node node, Func<Value, Value> lookup, NameAuthority names, string? nodeName, Func<Value, IrType?> outputType)
    {
        var outputs = node.Outputs.Select(o => o is null ? null : new Value(names.Fresh(o.Name), outputType(o))).ToList();
        // Non-graph attributes are immutable and can be shared; graphs are owned by one node each.
        var attributes = node.Attributes
            .Select(a => a.Graphs.Count == 0 ? a : a.WithGraphs(a.Graphs.Select(g => CloneGraph(g, lookup, names)).ToList()))
            .ToList();
        var copy = new Node(node.Domain, node.OpType, node.Inputs.Select(i => i is null ? null : lookup(i)), outputs, attributes, nodeName)
        {
            Overload = node.Overload,
            DocString = node.DocString,
        };
        copy.Metadata.AddRange(node.Metadata);
        return copy;
    }

    /// <summary>A deep copy of a subgraph: inputs, initializers, nodes (recursively) and outputs, all freshly named.</summary>
    public static Graph CloneGraph(Graph source, Func<Value, Value> outer, NameAuthority names)
    {
        var g = new Graph(names) { Name = source.Name, DocString = source.DocString };
        g.Metadata.AddRange(source.Metadata);
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        Value Look(Value v) => map.TryGetValue(v, out var m) ? m : outer(v);

        foreach (var v in source.Initializers)
            map[v] = g.AddInitializer(CloneTensor(v.Initializer!), v.Name);
        foreach (var v in source.Inputs)
        {
            if (map.TryGetValue(v, out var init)) { g.Inputs.Add(init); continue; } // an input with a default
            map[v] = g.AddInput(v.Name, v.Type);
        }
        foreach (var n in source.Nodes)
        {
            var copy = g.Append(CloneNode(n, Look, names, n.Name, o => o.Type));
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i] is { } o) map[o] = copy.Outputs[i]!;
        }
        foreach (var v in source.Outputs) g.Outputs.Add(Look(v));
        foreach (var v in source.ValueInfos)
            if (map.TryGetValue(v, out var m)) g.ValueInfos.Add(m);
        return g;
    }

    /// <summary>Drops every use the nodes of a detached subgraph hold, so outer values no longer count them.</summary>
    public static void ReleaseUses(Graph g)
    {
        foreach (var n in g.AllNodes()) n.SetInputs([]);
    }
}
