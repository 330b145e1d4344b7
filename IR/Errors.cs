namespace Ternion.IR;

/// <summary>
/// An error the user can act on: the message is one line naming the file, tensor or node and why.
/// The CLI prints it without a stack trace and exits with code 2.
/// </summary>
public class TernionException : Exception
{
    public TernionException(string message) : base(message) { }
    public TernionException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The model file (or its external data) is malformed or breaks a limit.</summary>
public sealed class ModelFormatException : TernionException
{
    public string? File { get; }
    public ModelFormatException(string? file, string problem)
        : base(file is null ? problem : $"{file}: {problem}") { File = file; }
    public ModelFormatException(string? file, string problem, Exception inner)
        : base(file is null ? problem : $"{file}: {problem}", inner) { File = file; }
}

/// <summary>A mutation of the IR would leave it inconsistent (e.g. removing a node whose output is still used).</summary>
public sealed class IrMutationException : TernionException
{
    public IrMutationException(string message) : base(message) { }
}

/// <summary>Limits that keep hostile files from exhausting time or memory; generous enough for real LLMs.</summary>
public sealed record LoadLimits
{
    /// <summary>Deepest nesting of subgraphs (If/Loop/Scan bodies, GRAPH attributes) accepted.</summary>
    public int MaxSubgraphDepth { get; init; } = 100;
    /// <summary>Most nodes in the whole model, subgraphs and functions included.</summary>
    public long MaxNodes { get; init; } = 20_000_000;
    /// <summary>Largest single tensor, in bytes (1 TiB).</summary>
    public long MaxTensorBytes { get; init; } = 1L << 40;
    /// <summary>Most attributes on one node, and most values in one attribute list.</summary>
    public int MaxAttributeValues { get; init; } = 100_000_000;
    public static LoadLimits Default { get; } = new();
}
