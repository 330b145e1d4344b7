namespace Ternion.Passes.Rewriting;

/// <summary>What a value must be for a rule to match: any value (captured by name) or the output of an op.</summary>
public abstract class ValuePattern
{
    private protected ValuePattern() { }
}

/// <summary>Any value (a graph input, an initializer, a node output); the match binds it to <see cref="Name"/>.</summary>
public sealed class CapturePattern : ValuePattern
{
    internal CapturePattern(string name) { Name = name; }
    public string Name { get; }
    public override string ToString() => Name;
}

/// <summary>
/// The first output of a node with this domain and op type whose inputs match <see cref="Inputs"/>
/// one for one (same count). <see cref="Label"/> names the node for <see cref="Match.Node"/>.
/// </summary>
public sealed class OpPattern : ValuePattern
{
    internal OpPattern(string domain, string opType, IReadOnlyList<ValuePattern> inputs, string? label)
    {
        Domain = domain is "ai.onnx" ? "" : domain;
        OpType = opType;
        Inputs = inputs;
        Label = label;
    }

    /// <summary>The normalised domain: "" for the default ONNX domain.</summary>
    public string Domain { get; }
    public string OpType { get; }
    public IReadOnlyList<ValuePattern> Inputs { get; }
    public string? Label { get; }
    public string QualifiedOp => Domain.Length == 0 ? OpType : $"{Domain}::{OpType}";

    /// <summary>The same pattern, with the matched node reachable as <c>match.Node(label)</c>.</summary>
    public OpPattern As(string label) => new(Domain, OpType, Inputs, label);

    public override string ToString() => $"{QualifiedOp}({string.Join(", ", Inputs)})";
}

/// <summary>Builds patterns: <c>Pattern.Op("MatMul", Pattern.Any("X"), Pattern.Op("com.ternion", "TernaryDecode", Pattern.Any("P"), Pattern.Any("s")))</c>.</summary>
public static class Pattern
{
    /// <summary>Any value, bound to <paramref name="name"/>; the same name twice must be the same value.</summary>
    public static CapturePattern Any(string name) => new(name);

    /// <summary>An op of the default ONNX domain.</summary>
    public static OpPattern Op(string opType, params ValuePattern[] inputs) => new("", opType, inputs, null);

    /// <summary>An op of another domain (com.microsoft, com.ternion, your own).</summary>
    public static OpPattern Op(string domain, string opType, params ValuePattern[] inputs) => new(domain, opType, inputs, null);
}
