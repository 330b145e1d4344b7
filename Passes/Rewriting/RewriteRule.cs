using Ternion.IR;

namespace Ternion.Passes.Rewriting;

/// <summary>
/// A rewrite rule: a pattern rooted at one node, a condition that says why it does not hold, and
/// a replacement that builds new nodes for the root's outputs. Every node the replacement creates is
/// stamped with the rule's name in its metadata_props (<see cref="MetadataKey"/>), so a rewritten
/// model tells where each node came from.
/// </summary>
public sealed class RewriteRule
{
    /// <summary>metadata_props key on every node a rule creates; the value is the rule's name.</summary>
    public const string MetadataKey = "ternion.rule";

    /// <summary>Shown in logs and stamped on new nodes.</summary>
    public required string Name { get; init; }

    /// <summary>The pattern; its root is the node whose outputs the replacement stands in for.</summary>
    public required OpPattern Pattern { get; init; }

    /// <summary>
    /// Checks what the pattern cannot say (types, attributes, constants). Returns null when the rule
    /// may fire, or the reason it may not — the reason is what -v shows for the closest near-miss.
    /// </summary>
    public Func<Match, string?> Condition { get; init; } = _ => null;

    /// <summary>
    /// Builds the replacement with the builder (which inserts each new node before the root and stamps
    /// it) and returns one value per output of the root, in order; null for an omitted output.
    /// Returning an existing value (e.g. a captured input) is allowed.
    /// </summary>
    public required Func<Match, RewriteBuilder, IReadOnlyList<Value?>> Replacement { get; init; }

    /// <summary>Opset imports the new nodes need; added to the model when the rule fires.</summary>
    public IReadOnlyList<OpsetId> Imports { get; init; } = [];

    public override string ToString() => $"rule {Name}: {Pattern}";
}

/// <summary>Where a rule matched: the root node, the captured values and the labelled nodes.</summary>
public sealed class Match
{
    private readonly Dictionary<string, Value> _captures;
    private readonly Dictionary<string, Node> _labels;

    internal Match(RewriteRule rule, Model model, Graph graph, Node root, Dictionary<string, Value> captures, Dictionary<string, Node> labels, List<Node> nodes)
    {
        Rule = rule; Model = model; Graph = graph; Root = root;
        _captures = captures; _labels = labels; Nodes = nodes;
    }

    public RewriteRule Rule { get; }
    public Model Model { get; }
    /// <summary>The graph holding every matched node (a rule never matches across graphs).</summary>
    public Graph Graph { get; }
    public Node Root { get; }
    /// <summary>Every matched node, the root first.</summary>
    public IReadOnlyList<Node> Nodes { get; }

    /// <summary>The value a <see cref="Pattern.Any"/> bound.</summary>
    public Value this[string capture] => _captures.TryGetValue(capture, out var v) ? v
        : throw new KeyNotFoundException($"rule {Rule.Name} has no capture '{capture}' (it has: {string.Join(", ", _captures.Keys)})");

    /// <summary>The node an <see cref="OpPattern.As"/> label names.</summary>
    public Node Node(string label) => _labels.TryGetValue(label, out var n) ? n
        : throw new KeyNotFoundException($"rule {Rule.Name} has no node labelled '{label}' (it has: {string.Join(", ", _labels.Keys)})");
}
