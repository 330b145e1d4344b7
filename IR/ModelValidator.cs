using QuikGraph;
using QuikGraph.Algorithms;

namespace Ternion.IR;

/// <summary>Checks a loaded model for what the IR and every pass rely on: imported domains and acyclic graphs.</summary>
public static class ModelValidator
{
    public static void Validate(Model model, string file, LoadLimits limits)
    {
        var imported = model.OpsetImports.Select(o => Normalize(o.DomainName)).ToHashSet();
        foreach (var g in model.Graph.AllGraphs())
        {
            CheckDomains(g, imported, file, "");
            CheckAcyclic(g, file);
        }
        foreach (var f in model.Functions)
        {
            // A function body may use the domains its own opset_import lists, and the model's.
            var fimported = imported.Concat(f.OpsetImports.Select(o => Normalize(o.DomainName))).ToHashSet();
            foreach (var g in f.Body.AllGraphs())
            {
                CheckDomains(g, fimported, file, $"function '{f.Key}': ");
                CheckAcyclic(g, file);
            }
        }
        CheckNoRecursion(model, file);
    }

    /// <summary>
    /// Refuses model-local functions that call themselves, directly or through others: ONNX forbids
    /// it, and a runtime (or pass) that inlines function calls would never finish.
    /// </summary>
    private static void CheckNoRecursion(Model model, string file)
    {
        if (model.Functions.Count == 0) return;
        var byKey = new Dictionary<(string, string, string), Function>();
        foreach (var f in model.Functions) byKey.TryAdd((f.Domain ?? "", f.Name ?? "", f.Overload ?? ""), f);
        var calls = new AdjacencyGraph<Function, Edge<Function>>(allowParallelEdges: false);
        foreach (var f in model.Functions)
        {
            calls.AddVertex(f);
            foreach (var n in f.Body.AllNodes())
                if (byKey.TryGetValue((n.Domain ?? "", n.OpType ?? "", n.Overload ?? ""), out var callee) && !calls.ContainsEdge(f, callee))
                    calls.AddVerticesAndEdge(new Edge<Function>(f, callee));
        }
        if (calls.Edges.FirstOrDefault(e => ReferenceEquals(e.Source, e.Target)) is { } self)
            throw new ModelFormatException(file, $"function '{self.Source.Key}' calls itself; ONNX functions may not be recursive");
        try { _ = calls.TopologicalSort().Count(); }
        catch (NonAcyclicGraphException)
        {
            var comps = new Dictionary<Function, int>();
            calls.StronglyConnectedComponents(comps);
            var cycle = comps.GroupBy(kv => kv.Value).First(gr => gr.Count() > 1).Select(kv => kv.Key).ToHashSet();
            var members = model.Functions.Where(cycle.Contains).ToList();
            throw new ModelFormatException(file, $"function '{members[0].Key}' calls itself through {string.Join(" -> ", members.Skip(1).Select(f => $"'{f.Key}'"))}; ONNX functions may not be recursive");
        }
    }

    public static string Normalize(string domain) => domain == "ai.onnx" ? "" : domain;

    private static void CheckDomains(Graph g, HashSet<string> imported, string file, string where)
    {
        foreach (var n in g.Nodes)
            if (!imported.Contains(n.DomainName))
                throw new ModelFormatException(file, $"{where}node {n.Describe()} uses domain '{(n.DomainName.Length == 0 ? "ai.onnx" : n.DomainName)}', which the model's opset_import does not list");
    }

    /// <summary>
    /// Refuses a graph whose nodes depend on each other in a cycle. A node also depends on every outer
    /// value its subgraphs read, so a cycle through a subgraph is found too. Node order in the file
    /// need not be topological; only a real cycle is an error.
    /// </summary>
    public static void CheckAcyclic(Graph g, string file)
    {
        var cycle = FindCycle(g);
        if (cycle is not null)
            throw new ModelFormatException(file, $"graph '{g.Name}' has a cycle: {string.Join(" -> ", cycle.Select(n => n.Describe()))}");
    }

    /// <summary>Nodes of one strongly connected component with more than one node (or a self loop), or null.</summary>
    public static IReadOnlyList<Node>? FindCycle(Graph g)
    {
        var dg = DependencyGraph(g);
        if (dg.EdgeCount == 0) return null;
        if (dg.Edges.FirstOrDefault(e => ReferenceEquals(e.Source, e.Target)) is { } self) return [self.Source];
        try
        {
            _ = dg.TopologicalSort().Count();
            return null;
        }
        catch (NonAcyclicGraphException)
        {
            var comps = new Dictionary<Node, int>();
            dg.StronglyConnectedComponents(comps);
            var big = comps.GroupBy(kv => kv.Value).Where(gr => gr.Count() > 1).First();
            var members = big.Select(kv => kv.Key).ToHashSet();
            return g.Nodes.Where(members.Contains).ToList();
        }
    }

    /// <summary>Edges producer -> consumer between nodes of this graph (uses from nested subgraphs, and values they return, count for their owner).</summary>
    public static AdjacencyGraph<Node, Edge<Node>> DependencyGraph(Graph g)
    {
        var dg = new AdjacencyGraph<Node, Edge<Node>>(allowParallelEdges: false);
        foreach (var n in g.Nodes) dg.AddVertex(n);
        foreach (var n in g.Nodes)
            foreach (var o in n.Outputs)
            {
                if (o is null) continue;
                foreach (var u in o.Uses)
                {
                    var consumer = OwnerIn(g, u.Node);
                    if (consumer is not null && !dg.ContainsEdge(n, consumer)) dg.AddEdge(new Edge<Node>(n, consumer));
                }
                // A subgraph may return an outer value without any node reading it: the node that
                // holds the subgraph depends on that value as much as on one its nodes read.
                foreach (var sub in o.OutputOf)
                {
                    if (ReferenceEquals(sub, g) || sub.ParentNode is not { } holder) continue;
                    var consumer = OwnerIn(g, holder);
                    if (consumer is not null && !dg.ContainsEdge(n, consumer)) dg.AddEdge(new Edge<Node>(n, consumer));
                }
            }
        return dg;
    }

    /// <summary>The node of <paramref name="g"/> that is, or contains through subgraphs, <paramref name="n"/>.</summary>
    public static Node? OwnerIn(Graph g, Node n)
    {
        for (Node? cur = n; cur is not null; cur = cur.Graph?.ParentNode)
            if (ReferenceEquals(cur.Graph, g)) return cur;
        return null;
    }
}
