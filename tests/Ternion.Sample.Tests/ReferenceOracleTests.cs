using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.SampleGen;
using Xunit.Abstractions;

namespace Ternion.Sample.Tests;

/// <summary>
/// reference.onnx (hand-expanded attention, run by ONNX Runtime) and the C# loop forward pass
/// (which wrote output_0.pb) are independent implementations of the same model; they must agree.
/// </summary>
public class ReferenceOracleTests(ITestOutputHelper output)
{
    private const double Rtol = 1e-4, Atol = 1e-5;

    [Fact]
    public void ReferenceModelOnOnnxRuntimeMatchesExpectedOutput()
    {
        var model = ModelSerializer.Load(SampleFolder.Reference);
        var inputs = ModelVerifier.ReadInputs(model, SampleFolder.DataSet);
        Assert.Equal([SampleModel.InputName], inputs.Keys);
        var actual = OrtRunner.Run(SampleFolder.Reference, inputs, new OrtRunOptions { Threads = 1 });
        var logits = Assert.Single(actual);
        Assert.Equal(SampleModel.OutputName, logits.Name);
        var expected = TestDataReader.Read(SampleFolder.Output, model.Graph.Outputs[0].Type);

        var cmp = Comparison.Compare(SampleModel.OutputName, expected, logits.Value, Rtol, Atol);
        output.WriteLine($"ORT(reference.onnx) vs output_0.pb: {cmp}");
        // Max rel above is set by logits next to zero; the relative error where it means something:
        var a = logits.Value.ToArray<float>();
        var ex = expected.ToArray<float>();
        double relLarge = Enumerable.Range(0, ex.Length).Where(i => MathF.Abs(ex[i]) >= 0.1f)
            .Max(i => Math.Abs(a[i] - ex[i]) / Math.Abs(ex[i]));
        output.WriteLine($"max rel over |logit| >= 0.1: {relLarge:G4}");
        Assert.True(cmp.Ok, cmp.ToString());
        // A vacuous pass (all zeros, or NaN on both sides) would prove nothing.
        var e = expected.ToArray<float>();
        Assert.All(e, v => Assert.True(float.IsFinite(v)));
        Assert.True(e.Max(MathF.Abs) > 1f, "logits are suspiciously small");
    }

    [Theory]
    [InlineData(1, 11)]
    [InlineData(5, 12)]
    [InlineData(23, 13)]
    public void ReferenceModelMatchesCSharpForwardAtOtherSequenceLengths(int seq, int tokenSeed)
    {
        // `ternion verify` feeds generated inputs (seq often 1), so the oracle must be right for any seq.
        var w = SampleWeights.Generate();
        var rng = new Random(tokenSeed);
        var tokens = Enumerable.Range(0, seq).Select(_ => (long)rng.Next(w.Config.Vocab)).ToArray();
        var expected = RunValue.FromArray(DataType.Float, [1, seq, w.Config.Vocab], ReferenceForward.Run(w, tokens));
        var inputs = new Dictionary<string, RunValue> { [SampleModel.InputName] = RunValue.FromArray(DataType.Int64, [1, seq], tokens) };
        var actual = OrtRunner.Run(SampleFolder.Reference, inputs, new OrtRunOptions { Threads = 1 }).Single().Value;
        var cmp = Comparison.Compare(SampleModel.OutputName, expected, actual, Rtol, Atol);
        output.WriteLine($"seq {seq}: {cmp}");
        Assert.True(cmp.Ok, cmp.ToString());
    }
}
