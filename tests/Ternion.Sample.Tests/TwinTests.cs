using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.SampleGen;
using Ternion.TestSupport;

namespace Ternion.Sample.Tests;

/// <summary>
/// The sample's twins: the same model with its projections stored as exporters write them —
/// bfloat16 master weights quantized online in the graph (bitnet-tiny-online) and HF BitNet's
/// packed uint8 (bitnet-tiny-packed). Each is what the generator writes, compiles with the plain
/// sample's 14 weights packed, and gives its own outputs back on ONNX Runtime for every target.
/// </summary>
public class TwinTests
{
    public static TheoryData<WeightForm, string> Cases()
    {
        var d = new TheoryData<WeightForm, string>();
        foreach (var form in new[] { WeightForm.OnlineQuantized, WeightForm.PackedUInt8 })
            foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
                d.Add(form, target);
        return d;
    }

    private static string Folder(WeightForm form) => Path.Combine(Paths.TestData, SampleModel.TwinFolder(form));

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheTwinPacksTheSampleWeightsAndComputesWhatItComputed(WeightForm form, string target)
    {
        using var dir = new TempDir("twin");
        string twin = Path.Combine(Folder(form), SampleModel.ModelFile);
        var r = TernionCompiler.Compile(new CompileRequest { InputPath = twin, OutputPath = dir.File("c.onnx"), Target = target, CheckInvariants = true });
        var expectedSource = form == WeightForm.OnlineQuantized ? "weight-subgraph" : "packed-uint8";
        // The plain sample's 14 projections, by their names, and its decoy left dense.
        var plain = SampleWeights.Generate().Layers.SelectMany(l => l.Ternary).Select(t => t.Name).Order(StringComparer.Ordinal);
        Assert.Equal(plain, r.Report.TernaryWeights.Select(w => w.SourceTensor!).Order(StringComparer.Ordinal));
        Assert.All(r.Report.TernaryWeights, w => Assert.Equal(expectedSource, w.Source));
        Assert.Equal(6, r.Report.TernaryWeights.Count(w => w.ScaleKind == "per-channel"));
        Assert.Contains(r.Report.Rejected, x => x.Name == "embed_proj.weight");
        var compiled = ModelSerializer.Load(dir.File("c.onnx"));
        // Nothing of the stored forms is left: no master weight, no unpacking.
        Assert.DoesNotContain(compiled.AllNodes(), n => n.OpType is "Round" or "BitShift" or "ReduceMean" && n.Inputs.Any(i => i?.IsInitializer == true && i.Initializer!.ElementCount > 1024));
        Assert.DoesNotContain(compiled.Graph.Initializers, v => v.Initializer!.DataType == DataType.BFloat16);
        var v = ModelVerifier.Verify(twin, dir.File("c.onnx"), new VerifyOptions
        {
            InputsDirectory = Path.Combine(Folder(form), SampleModel.DataSetFolder), Exact = target == "folded", Rtol = 1e-5, Atol = 1e-5,
        });
        Assert.True(v.Ok, string.Join("; ", v.Outputs));
    }

    [Theory]
    [InlineData(WeightForm.OnlineQuantized)]
    [InlineData(WeightForm.PackedUInt8)]
    public void RegeneratingTheTwinGivesTheCommittedBytes(WeightForm form)
    {
        using var tmp = new TempDir("twin-regen");
        var (model, input) = SampleModel.WriteTwin(tmp.Path, form);
        foreach (var (fresh, rel) in new[] { (model, SampleModel.ModelFile), (input, Path.Combine(SampleModel.DataSetFolder, "input_0.pb")) })
        {
            var committed = Path.Combine(Folder(form), rel);
            Assert.True(File.ReadAllBytes(committed).AsSpan().SequenceEqual(File.ReadAllBytes(fresh)),
                $"testdata/{SampleModel.TwinFolder(form)}/{rel} is out of date (regenerate with `dotnet run --project testdata/generator -- testdata/{SampleModel.TwinFolder(form)} --form {(form == WeightForm.OnlineQuantized ? "online" : "packed")}`)");
        }
    }
}
