using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Checks every TernaryDecode the input already holds (a model compiled before) before any pass
/// relies on it: two inputs and one output, the layout its attributes declare matching its packed
/// and scale inputs, and constant packed bytes that are valid TTF1 (no reserved byte 243..255,
/// zero padding). A target that keeps the node would otherwise ship a model that decodes to
/// something else, or nothing. A check of the input rather than a pass, so it changes no pipeline.
/// </summary>
public static class TernaryDecodeInputCheck
{
    public static void Check(Model model, CancellationToken cancellation = default)
    {
        foreach (var n in model.AllNodes().Where(TernaryDecodeOp.Is))
        {
            cancellation.ThrowIfCancellationRequested();
            // Every pass reads input 0, input 1 and output 0 without asking.
            if (n.Inputs.Count != 2 || n.Input(0) is null || n.Input(1) is null)
                throw new TernionException($"TernaryDecode {n.Describe()}: takes two inputs (packed, scale); it has {n.Inputs.Count(i => i is not null)}");
            if (n.Outputs.Count != 1 || n.Outputs[0] is null)
                throw new TernionException($"TernaryDecode {n.Describe()}: must have one output (the decoded weight)");
            var layout = TernaryDecodeOp.Layout(n);
            if (n.Input(0) is not { Initializer: { } packed } value) continue;
            using var bytes = packed.Data.Open();
            try { TernaryCodec.Validate(bytes.Span, layout, value.Name); }
            catch (TernionException e) { throw new TernionException($"TernaryDecode {n.Describe()}: {e.Message}", e); }
        }
    }
}
