using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Checks every TernaryDecode the input already holds (a model compiled before) before any pass
/// relies on it: the layout its attributes declare must match its packed and scale inputs, and
/// constant packed bytes must be valid TTF1 (no reserved byte 243..255, zero padding). A target
/// that keeps the node would otherwise ship a model that decodes to something else, or nothing.
/// </summary>
public sealed class ValidateTernaryDecode : InPlacePass
{
    public override string Name => "ValidateTernaryDecode";

    protected override int Apply(Model model, PassContext context)
    {
        foreach (var n in model.AllNodes().Where(TernaryDecodeOp.Is))
        {
            context.Cancellation.ThrowIfCancellationRequested();
            // Every pass after this one reads input 0, input 1 and output 0 without asking.
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
        return 0;
    }
}
