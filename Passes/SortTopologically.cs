using QuikGraph;
using Ternion.IR;

namespace Ternion.Passes;

/// <summary>
/// Puts the nodes of every graph in an order where each value is defined before it is used.
/// Stable: a graph that is already in order is left exactly as it is, and otherwise nodes keep
/// their relative file order wherever dependencies allow (deterministic output).
/// </summary>
public sealed class SortTopologically : InPlacePass
{
    protected override int Apply(Model model, PassContext context)
    {
        int changed = 0;
        foreach (var g in model.AllGraphs().ToList())
            if (SortGraph(g)) changed++;
        return changed;
    }

    public static bool SortGraph(Graph g)
    {
        var order = g.Nodes.ToList();
        var dg = ModelValidator.DependencyGraph(g);
        var sorted = StableOrder(order, dg);
        if (sorted.SequenceEqual(order)) return false;
        g.Nodes.Reorder(sorted);
        return true;
    }

    /// <summary>Kahn's algorithm taking, among ready nodes, the one earliest in the file.</summary>
    private static List<Node> StableOrder(List<Node> order, AdjacencyGraph<Node, Edge<Node>> dg)
    {
        var index = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) index[order[i]] = i;
        var indegree = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        foreach (var n in order) indegree[n] = 0;
        foreach (var e in dg.Edges) indegree[e.Target]++;
        var ready = new PriorityQueue<Node, int>();
        foreach (var n in order) if (indegree[n] == 0) ready.Enqueue(n, index[n]);
        var result = new List<Node>(order.Count);
        while (ready.TryDequeue(out var n, out _))
        {
            result.Add(n);
            foreach (var e in dg.OutEdges(n))
                if (--indegree[e.Target] == 0) ready.Enqueue(e.Target, index[e.Target]);
        }
        if (result.Count != order.Count)
            throw new TernionException($"graph '{order[0].Graph?.Name}' has a cycle; it cannot be put in order");
        return result;
    }
}
