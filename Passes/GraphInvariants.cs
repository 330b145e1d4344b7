using Ternion.IR;

namespace Ternion.Passes;

/// <summary>
/// The invariants every pass must leave intact: each value defined before it is used, use-lists
/// that agree with node inputs, graph outputs that exist, opset imports for every used domain, and
/// no value name defined twice in a graph. Returns the violations found (empty when all hold).
/// </summary>
public static class GraphInvariants
{
    public static List<string> Check(Model model)
    {
        var problems = new List<string>();
        var imported = model.OpsetImports.Select(o => ModelValidator.Normalize(o.DomainName)).ToHashSet();
        CheckGraph(model.Graph, new HashSet<Value>(ReferenceEqualityComparer.Instance), imported, problems, "main graph");
        foreach (var f in model.Functions)
        {
            var fimp = imported.Concat(f.OpsetImports.Select(o => ModelValidator.Normalize(o.DomainName))).ToHashSet();
            CheckGraph(f.Body, new HashSet<Value>(ReferenceEqualityComparer.Instance), fimp, problems, $"function '{f.Key}'");
        }
        return problems;
    }

    private static void CheckGraph(Graph g, HashSet<Value> visibleOuter, HashSet<string> imported, List<string> problems, string where)
    {
        var defined = new HashSet<Value>(visibleOuter, ReferenceEqualityComparer.Instance);
        var names = new Dictionary<string, Value>(StringComparer.Ordinal);
        void Define(Value v, string what)
        {
            if (v.Name.Length == 0) { problems.Add($"{where}: {what} has no name"); return; }
            if (names.TryGetValue(v.Name, out var other) && !ReferenceEquals(other, v))
                problems.Add($"{where}: value name '{v.Name}' is defined twice");
            names[v.Name] = v;
            defined.Add(v);
        }
        foreach (var v in g.Inputs) Define(v, "an input");
        foreach (var v in g.Initializers)
        {
            if (!g.Inputs.Contains(v)) Define(v, "an initializer");
            if (v.Initializer is null) problems.Add($"{where}: initializer '{v.Name}' has no tensor");
        }
        foreach (var v in g.SparseInitializers) if (!g.Inputs.Contains(v)) Define(v, "a sparse initializer");

        foreach (var n in g.Nodes)
        {
            if (!imported.Contains(n.DomainName))
                problems.Add($"{where}: node {n.Describe()} uses domain '{n.DomainName}', which opset_import does not list");
            for (int i = 0; i < n.Inputs.Count; i++)
            {
                var v = n.Inputs[i];
                if (v is null) continue;
                if (!defined.Contains(v))
                    problems.Add($"{where}: node {n.Describe()} input {i} '{v.Name}' is used before it is defined (or is not defined at all)");
                if (!v.Uses.Contains(new Usage(n, i)))
                    problems.Add($"{where}: use-list of '{v.Name}' lacks node {n.Describe()} input {i}");
            }
            foreach (var sub in n.Subgraphs)
            {
                if (!ReferenceEquals(sub.ParentNode, n)) problems.Add($"{where}: subgraph '{sub.Name}' of node {n.Describe()} does not point back at it");
                CheckGraph(sub, defined, imported, problems, $"{where} > {n.Describe()} subgraph '{sub.Name}'");
            }
            foreach (var o in n.Outputs)
            {
                if (o is null) continue;
                if (!ReferenceEquals(o.Producer, n)) problems.Add($"{where}: output '{o.Name}' of node {n.Describe()} names another producer");
                Define(o, $"an output of node {n.Describe()}");
            }
        }
        // Every use recorded on a value defined here must be a real input of a live node.
        foreach (var v in names.Values)
            foreach (var u in v.Uses)
                if (u.Node.Graph is null || u.InputIndex >= u.Node.Inputs.Count || !ReferenceEquals(u.Node.Inputs[u.InputIndex], v))
                    problems.Add($"{where}: use-list of '{v.Name}' names node {u.Node.Describe()} input {u.InputIndex}, which does not read it");
        foreach (var v in g.Outputs)
            if (!defined.Contains(v))
                problems.Add($"{where}: graph output '{v.Name}' is not produced by any node, input or initializer");
    }
}

/// <summary>Thrown when a pass leaves the model inconsistent; names the pass.</summary>
public sealed class InvariantViolationException : TernionException
{
    public InvariantViolationException(string pass, IReadOnlyList<string> problems)
        : base($"pass '{pass}' broke the IR: {problems[0]}" + (problems.Count > 1 ? $" (and {problems.Count - 1} more)" : ""))
    {
        Pass = pass; Problems = problems;
    }
    public string Pass { get; }
    public IReadOnlyList<string> Problems { get; }
}
