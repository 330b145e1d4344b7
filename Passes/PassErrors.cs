using Ternion.IR;

namespace Ternion.Passes;

/// <summary>A pass broke its own contract: in place or functional, and whether it changed anything.</summary>
public sealed class PassContractException : TernionException
{
    public PassContractException(string pass, string problem) : base($"pass '{pass}' {problem}") { Pass = pass; }
    public string Pass { get; }
}

/// <summary>
/// A pass failed with something other than an error about the model (a refused IR mutation, a bug):
/// the message names the pass, since that is where to look, and keeps the original as the inner exception.
/// </summary>
public sealed class PassFailedException : TernionException
{
    public PassFailedException(string pass, Exception inner)
        : base(inner is IrMutationException
            ? $"pass '{pass}' made an invalid change to the IR: {inner.Message}"
            : $"pass '{pass}' failed with an internal error ({inner.GetType().Name}: {inner.Message})", inner)
    { Pass = pass; }
    public string Pass { get; }
}
