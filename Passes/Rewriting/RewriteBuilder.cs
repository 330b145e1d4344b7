using Ternion.IR;

namespace Ternion.Passes.Rewriting;

/// <summary>
/// What a replacement builds with: each node goes into the match's graph just before the root (so
/// it sees every value the root saw) and carries the rule's name in metadata_props.
/// </summary>
public sealed class RewriteBuilder
{
    private readonly Node _anchor;
    private readonly HashSet<Node> _created = new(ReferenceEqualityComparer.Instance);

    internal RewriteBuilder(Model model, Graph graph, Node anchor, string ruleName)
    {
        Model = model; Graph = graph; _anchor = anchor; RuleName = ruleName;
    }

    public Model Model { get; }
    public Graph Graph { get; }
    public string RuleName { get; }

    /// <summary>A default-domain op with one output.</summary>
    public Value Op(string opType, IReadOnlyList<Value?> inputs, IEnumerable<Attribute>? attributes = null, string? name = null) =>
        Node("", opType, inputs, 1, attributes, name).Output();

    /// <summary>An op of <paramref name="domain"/> with one output (declare the domain in <see cref="RewriteRule.Imports"/>).</summary>
    public Value Op(string domain, string opType, IReadOnlyList<Value?> inputs, IEnumerable<Attribute>? attributes = null, string? name = null) =>
        Node(domain, opType, inputs, 1, attributes, name).Output();

    /// <summary>A node with <paramref name="outputs"/> fresh outputs, inserted and stamped.</summary>
    public Node Node(string domain, string opType, IReadOnlyList<Value?> inputs, int outputs, IEnumerable<Attribute>? attributes = null, string? name = null)
    {
        var node = new Node(domain, opType, inputs, outputs, attributes, name);
        node.Metadata.Set(RewriteRule.MetadataKey, RuleName);
        Graph.InsertBefore(_anchor, node);
        _created.Add(node);
        return node;
    }

    /// <summary>A new initializer in the match's graph (the name is made unique if taken).</summary>
    public Value Initializer(Tensor tensor, string name) => Graph.AddInitializer(tensor, name);

    internal bool Created(Value v) => v.Producer is { } p && _created.Contains(p);
}
