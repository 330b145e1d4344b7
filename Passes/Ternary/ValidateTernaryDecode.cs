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
            var layout = TernaryDecodeOp.Layout(n);
            if (n.Input(0) is not { Initializer: { } packed } value) continue;
            using var bytes = packed.Data.Open();
            try { TernaryCodec.Validate(bytes.Span, layout, value.Name); }
            catch (TernionException e) { throw new TernionException($"TernaryDecode {n.Describe()}: {e.Message}", e); }
        }
        return 0;
    }
}
