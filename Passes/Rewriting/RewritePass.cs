using Microsoft.Extensions.Logging;
using Ternion.IR;

namespace Ternion.Passes.Rewriting;

/// <summary>
/// An in-place pass made of rewrite rules: one sweep of <see cref="Rewriter"/> per run. With -v it
/// logs, per rule, how often it fired or — when it fired nowhere — the closest near-miss and why.
/// </summary>
public abstract class RewritePass : InPlacePass
{
    public abstract IReadOnlyList<RewriteRule> Rules { get; }

    protected sealed override int Apply(Model model, PassContext context)
    {
        var result = Rewriter.Apply(model, Rules);
        foreach (var outcome in result.Rules) context.Logger.LogDebug("{Outcome}", outcome.Describe());
        return result.Total + AfterRewrite(model, result, context);
    }

    /// <summary>
    /// Runs after the sweep, e.g. to add a function body for a new op once a rule fired. Returns the
    /// number of changes it made (the pass manager checks that a pass reporting none made none).
    /// </summary>
    protected virtual int AfterRewrite(Model model, RewriteResult result, PassContext context) => 0;
}
