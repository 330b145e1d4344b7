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
public class SampleCompileTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Sample => Path.Combine(Paths.TestData, "bitnet-tiny");

    [Theory]
    [InlineData("fallback")]
    [InlineData("native")]
    [InlineData("folded")]
    [InlineData("ort-nbits")]
    [InlineData("ort-ttf1")]
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
        if (target == "ort-ttf1")
        {
            // Every ternary projection runs on Ternion's kernel from the packed bytes; nothing decodes them.
            Assert.Equal(14, compiled.AllNodes().Count(n => n.DomainName == "com.ternion" && n.OpType == "TernaryMatMul"));
            Assert.DoesNotContain(compiled.AllNodes(), n => n.OpType == "TernaryDecode");
        }
        var actual = OrtRunner.Run(dir.File("compiled.onnx"), ModelVerifier.ReadInputs(compiled, inputs),
            new OrtRunOptions { TernionCustomOps = ModelVerifier.NeedsTernionOps(compiled) }).Single().Value;
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

    /// <summary>
    /// `ort-nbits-int8` lets ONNX Runtime quantize activations to int8, so the logits are close to,
    /// not equal to, the expected ones: what a user checks is the size of the error relative to the
    /// logits and that the predicted next token stays the same.
    /// </summary>
    [Fact]
    public void OrtNBitsInt8StaysCloseToTheSampleOutputsAndPredictsTheSameTokens()
    {
        using var dir = new TempDir("sample-int8");
        var result = TernionCompiler.Compile(new CompileRequest
        {
            InputPath = Path.Combine(Sample, "model.onnx"), OutputPath = dir.File("compiled.onnx"), Target = "ort-nbits-int8", CheckInvariants = true,
        });
        Assert.Equal(14, result.Report.TernaryWeights.Count);
        var compiled = ModelSerializer.Load(dir.File("compiled.onnx"));
        var nbits = compiled.AllNodes().Where(n => n.OpType == "MatMulNBits" && n.DomainName == "com.microsoft").ToList();
        Assert.NotEmpty(nbits);
        Assert.All(nbits, n => Assert.Equal(4, n.GetInt("accuracy_level", -1)));

        var inputs = Path.Combine(Sample, "test_data_set_0");
        var expected = TestDataReader.Read(Path.Combine(inputs, "output_0.pb"), null);
        var actual = OrtRunner.Run(dir.File("compiled.onnx"), ModelVerifier.ReadInputs(compiled, inputs)).Single().Value;
        Assert.Equal(expected.Dims, actual.Dims);
        float[] e = expected.ToArray<float>(), a = actual.ToArray<float>();
        double err = Math.Sqrt(e.Zip(a).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)));
        double norm = Math.Sqrt(e.Sum(x => (double)x * x));
        int vocab = (int)expected.Dims[^1], positions = e.Length / vocab, same = 0;
        for (int i = 0; i < positions; i++)
        {
            var er = e.AsSpan(i * vocab, vocab); var ar = a.AsSpan(i * vocab, vocab);
            if (er.IndexOf(MaxOf(er)) == ar.IndexOf(MaxOf(ar))) same++;
        }
        output.WriteLine($"relative L2 error {err / norm:E2}; same next token at {same} of {positions} positions");
        // Measured: 2.2e-2 (random weights, two layers, 14 int8 MatMuls in a row); float paths give 1e-7.
        Assert.True(err / norm < 0.05, $"relative L2 error {err / norm:E2}");
        Assert.True(err > 0, "accuracy_level 4 quantizes activations: an exact match means the level was not applied");
        // The sample's random weights leave some logits within a hair of each other; a flip at one or
        // two of 16 positions is a near-tie, more would mean the quantization is off.
        Assert.True(same >= positions - 2, $"same next token at only {same} of {positions} positions");
    }

    private static float MaxOf(ReadOnlySpan<float> x) { float m = float.NegativeInfinity; foreach (var v in x) m = Math.Max(m, v); return m; }
}
