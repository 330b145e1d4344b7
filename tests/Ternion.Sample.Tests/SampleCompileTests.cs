using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;

namespace Ternion.Sample.Tests;

/// <summary>
/// The README's main job: compile the shipped sample for every target. ONNX Runtime on the result
/// must give the sample's expected outputs, and — against the same model with FlexAttention lowered
/// but no weight packed — bit-identical outputs for `folded` and 1e-5 relative for the others.
/// </summary>
public class SampleCompileTests
{
    private static string Sample => Path.Combine(Paths.TestData, "bitnet-tiny");

    [Theory]
    [InlineData("fallback")]
    [InlineData("native")]
    [InlineData("folded")]
    [InlineData("ort-nbits")]
    public void EveryTargetReproducesTheSampleOutputs(string target)
    {
        using var dir = new TempDir("sample");
        var result = TernionCompiler.Compile(new CompileRequest
        {
            InputPath = Path.Combine(Sample, "model.onnx"), OutputPath = dir.File("compiled.onnx"), Target = target, CheckInvariants = true,
        });
        Assert.Equal(14, result.Report.TernaryWeights.Count);
        Assert.Contains(result.Report.Rejected, r => r.Name == "embed_proj.weight");
        Assert.Equal(2, result.Report.FlexAttention.Count);
        Assert.All(result.Report.FlexAttention, f => Assert.Equal("lowered", f.Result));
        var compiled = ModelSerializer.Load(dir.File("compiled.onnx"));
        Assert.DoesNotContain(compiled.AllNodes(), n => n.DomainName == "ai.onnx.preview");

        // Against the expected outputs computed by the generator's independent C# forward pass.
        var inputs = Path.Combine(Sample, "test_data_set_0");
        var expected = TestDataReader.Read(Path.Combine(inputs, "output_0.pb"), null);
        var actual = OrtRunner.Run(dir.File("compiled.onnx"), ModelVerifier.ReadInputs(compiled, inputs)).Single().Value;
        var c = Comparison.Compare("logits", expected, actual, 1e-4, 1e-5);
        Assert.True(c.Ok, c.ToString());

        // Against the unpacked model (FlexAttention lowered the same way, weights dense).
        TernionCompiler.Compile(new CompileRequest
        {
            InputPath = Path.Combine(Sample, "model.onnx"), OutputPath = dir.File("dense.onnx"), Target = "folded", MinElements = long.MaxValue,
        });
        var v = ModelVerifier.Verify(dir.File("dense.onnx"), dir.File("compiled.onnx"), new VerifyOptions
        {
            InputsDirectory = inputs, Exact = target == "folded", Rtol = 1e-5, Atol = 1e-5,
        });
        Assert.True(v.Ok, string.Join("; ", v.Outputs));
    }
}
