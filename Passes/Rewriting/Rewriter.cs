using Ternion.IR;

namespace Ternion.Passes.Rewriting;

/// <summary>The closest a rule came to matching somewhere: at which node, and why it failed.</summary>
/// <param name="Node">The candidate root, as <see cref="Node.Describe"/> put it when it was tried.</param>
/// <param name="Score">Pattern elements matched before the failure; a failed condition beats any structural failure.</param>
public sealed record NearMiss(string Node, string Reason, int Score);

/// <summary>How one rule did in one sweep.</summary>
public sealed record RuleOutcome(RewriteRule Rule, int Fired, NearMiss? ClosestMiss)
{
    /// <summary>The log line: how often it fired, or why it fired nowhere.</summary>
    public string Describe() =>
        Fired > 0 ? $"rule {Rule.Name} fired {Fired} time(s)"
        : ClosestMiss is { } m ? $"rule {Rule.Name} did not fire: closest match at node {m.Node} failed because {m.Reason}"
        : $"rule {Rule.Name} did not fire: the model has no {Rule.Pattern.QualifiedOp} node";
}

public sealed record RewriteResult(IReadOnlyList<RuleOutcome> Rules)
{
    public int Total => Rules.Sum(r => r.Fired);
}

/// <summary>
/// Applies rules in one sweep over the main graph and its subgraphs (function bodies are left alone:
/// they are definitions, not the computation). Nodes are visited in graph order; at each node the
/// first rule that matches and whose condition holds fires. Nodes a replacement creates are not
/// revisited in the same sweep, so a rule whose output another rule should see needs a second run.
/// </summary>
public static class Rewriter
{
    public static RewriteResult Apply(Model model, IReadOnlyList<RewriteRule> rules)
    {
        foreach (var r in rules) Validate(r);
        var fired = new int[rules.Count];
        var misses = new NearMiss?[rules.Count];
        foreach (var g in model.Graph.AllGraphs().ToList())
        {
            if (!IsLive(g)) continue; // its node was rewritten away earlier in this sweep
            foreach (var node in g.Nodes.ToList())
            {
                if (!ReferenceEquals(node.Graph, g)) continue; // removed by an earlier rewrite
                for (int i = 0; i < rules.Count; i++)
                {
                    var rule = rules[i];
                    if (!IsOp(node, rule.Pattern)) continue;
                    var (match, miss) = TryMatch(rule, model, g, node);
                    if (match is null)
                    {
                        if (misses[i] is null || miss!.Score > misses[i]!.Score) misses[i] = miss;
                        continue;
                    }
                    Fire(rule, match);
                    fired[i]++;
                    break;
                }
            }
        }
        return new RewriteResult(rules.Select((r, i) => new RuleOutcome(r, fired[i], misses[i])).ToList());
    }

    /// <summary>Matches one rule at one node, without changing anything; the miss says why not.</summary>
    public static (Match? Match, NearMiss? Miss) TryMatch(RewriteRule rule, Model model, Graph graph, Node root)
    {
        var st = new MatchState();
        string at = root.Describe();
        if (!MatchNode(rule.Pattern, root, graph, st))
            return (null, new NearMiss(at, st.Failure!, st.Score));
        var match = new Match(rule, model, graph, root, st.Captures, st.Labels, st.Nodes);
        if (rule.Condition(match) is { } reason)
            return (null, new NearMiss(at, reason, int.MaxValue));
        return (match, null);
    }

    private static void Validate(RewriteRule r)
    {
        if (string.IsNullOrWhiteSpace(r.Name)) throw new ArgumentException("a rewrite rule needs a name");
        var labels = new HashSet<string>(StringComparer.Ordinal);
        void Walk(ValuePattern p)
        {
            if (p is not OpPattern op) return;
            if (op.Label is { } l && !labels.Add(l))
                throw new ArgumentException($"rule {r.Name}: the label '{l}' names two nodes of the pattern");
            foreach (var i in op.Inputs) Walk(i);
        }
        Walk(r.Pattern);
    }

    private static bool IsLive(Graph g)
    {
        for (var n = g.ParentNode; n is not null; n = n.Graph?.ParentNode)
            if (n.Graph is null) return false;
        return true;
    }

    private static bool IsOp(Node n, OpPattern p) => n.OpType == p.OpType && n.DomainName == p.Domain;

    private sealed class MatchState
    {
        public readonly Dictionary<string, Value> Captures = new(StringComparer.Ordinal);
        public readonly Dictionary<string, Node> Labels = new(StringComparer.Ordinal);
        public readonly List<Node> Nodes = new();
        public int Score;
        public string? Failure;
        public bool Fail(string why) { Failure = why; return false; }
    }

    private static bool MatchNode(OpPattern p, Node node, Graph g, MatchState st)
    {
        if (p.Label is { } label)
        {
            if (st.Labels.TryGetValue(label, out var bound) && !ReferenceEquals(bound, node))
                return st.Fail($"{node.Describe()} is not the node already matched as '{label}'");
            st.Labels[label] = node;
        }
        st.Nodes.Add(node);
        st.Score++;
        if (node.Inputs.Count != p.Inputs.Count)
            return st.Fail($"{node.Describe()} has {node.Inputs.Count} input(s); the pattern expects {p.Inputs.Count}");
        for (int i = 0; i < p.Inputs.Count; i++)
            if (!MatchValue(p.Inputs[i], node.Inputs[i], g, st, $"input {i} of {node.Describe()}"))
                return false;
        return true;
    }

    private static bool MatchValue(ValuePattern p, Value? v, Graph g, MatchState st, string where)
    {
        switch (p)
        {
            case CapturePattern c:
                if (v is null) return st.Fail($"{where} is omitted");
                if (st.Captures.TryGetValue(c.Name, out var bound) && !ReferenceEquals(bound, v))
                    return st.Fail($"{where} '{v.Name}' is not the same value as {c.Name} ('{bound.Name}')");
                st.Captures[c.Name] = v;
                st.Score++;
                return true;
            case OpPattern op:
                if (v is null) return st.Fail($"{where} is omitted, not the output of {op.QualifiedOp}");
                if (v.Producer is not { } producer)
                    return st.Fail($"{where} '{v.Name}' is {(v.IsInitializer ? "an initializer" : v.IsGraphInput ? "a graph input" : "not produced by a node")}, not the output of {op.QualifiedOp}");
                if (!ReferenceEquals(producer.Graph, g))
                    return st.Fail($"{where} '{v.Name}' comes from an enclosing graph; a rule matches within one graph");
                if (!IsOp(producer, op))
                    return st.Fail($"{where} '{v.Name}' is the output of {producer.Describe()}, not of {op.QualifiedOp}");
                if (v.ProducerOutputIndex != 0)
                    return st.Fail($"{where} '{v.Name}' is output {v.ProducerOutputIndex} of {producer.Describe()}, not its first output");
                return MatchNode(op, producer, g, st);
            default:
                throw new ArgumentException($"unknown pattern kind {p.GetType().Name}");
        }
    }

    /// <summary>
    /// Replaces the root's outputs by the replacement's values (under the root's output names, so
    /// graph outputs and value_info stay as they were), removes the root, then removes matched
    /// nodes nothing reads any more. Matched nodes still read elsewhere stay.
    /// </summary>
    private static void Fire(RewriteRule rule, Match m)
    {
        var g = m.Graph;
        var root = m.Root;
        var b = new RewriteBuilder(m.Model, g, root, rule.Name);
        var outs = rule.Replacement(m, b);
        if (outs.Count != root.Outputs.Count)
            throw new TernionException($"rule {rule.Name}: the replacement gives {outs.Count} value(s) for the {root.Outputs.Count} output(s) of {root.Describe()}");

        var plan = new List<(Value Old, Value New, string Name, bool HadValueInfo)>();
        for (int i = 0; i < outs.Count; i++)
        {
            if (root.Outputs[i] is not { } old) continue;
            var nv = outs[i] ?? throw new TernionException($"rule {rule.Name}: the replacement gives nothing for output {i} '{old.Name}' of {root.Describe()}, which is used");
            if (ReferenceEquals(nv, old) || ReferenceEquals(nv.Producer, root))
                throw new TernionException($"rule {rule.Name}: the replacement for {root.Describe()} returns the root's own output");
            // A graph output keeps its name: an existing value standing in for it goes through an Identity.
            if (old.IsGraphOutput && !b.Created(nv)) nv = b.Op("Identity", [nv]);
            if (b.Created(nv)) nv.Type ??= old.Type;
            plan.Add((old, nv, old.Name, g.ValueInfos.Contains(old)));
        }
        foreach (var (old, nv, _, _) in plan) old.ReplaceAllUsesWith(nv, replaceGraphOutputs: true);
        g.Remove(root);
        foreach (var (_, nv, name, hadValueInfo) in plan)
        {
            if (!b.Created(nv)) continue;
            g.Rename(nv, name);
            if (hadValueInfo && !g.ValueInfos.Contains(nv)) g.ValueInfos.Add(nv);
        }
        // Removing one matched node may free the nodes feeding it: repeat until nothing more goes.
        for (bool removed = true; removed;)
        {
            removed = false;
            foreach (var n in m.Nodes.Skip(1))
                if (ReferenceEquals(n.Graph, g) && n.Outputs.All(o => o is null || !o.IsUsed)) { g.Remove(n); removed = true; }
        }
        foreach (var import in rule.Imports) m.Model.RequireOpset(import.DomainName, import.Version ?? 1);
    }
}
