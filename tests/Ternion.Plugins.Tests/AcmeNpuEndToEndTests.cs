using Ternion.Backends.Verification;
using Ternion.Cli.Tests;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes.Rewriting;
using Ternion.Ternary.Tests;
using Ternion.TestSupport;

namespace Ternion.Plugins.Tests;

/// <summary>
/// The example vendor plugin, loaded from its DLL through the CLI: MatMul by a ternary weight becomes
/// com.acme::TernaryMatMul, the result runs on ONNX Runtime through the op's reference body and
/// computes what the original computed; where the rule cannot fire, -v says why.
/// </summary>
public class AcmeNpuEndToEndTests : IDisposable
{
    private readonly TempDir _dir = new("acme");
    public void Dispose() => _dir.Dispose();

    private const int K = 700, N = 48;

    private string Save(Model m, string name)
    {
        var path = _dir.File(name);
        ModelSerializer.Save(m, path);
        return path;
    }

    public static TheoryData<DataType, ScaleKind> Cases() => new()
    {
        { DataType.Float, ScaleKind.PerTensor },
        { DataType.Float, ScaleKind.PerChannel },
        { DataType.Float16, ScaleKind.PerTensor },
        { DataType.Float16, ScaleKind.PerChannel },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusesTernaryMatMulsAndComputesWhatTheOriginalComputed(DataType type, ScaleKind kind)
    {
        // y1 and y2 read the shared ternary w1 through MatMul; y3 reads w2 through Gemm(transB=1); y4 reads a dense decoy.
        var original = Save(WeightModels.MatMulGemmModel(K, N, type, kind), "original.onnx");
        var compiled = _dir.File("acme.onnx");
        var r = CliRunner.Run("compile", original, "-o", compiled, "--target", "acme-npu", "--plugin", PluginBuilds.Acme, "--check", "-v");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("ternion: debug: rule FuseTernaryMatMul fired 2 time(s)", r.Stderr);
        Assert.Matches(@"ternion: debug: pass 05 FuseTernaryMatMul: 3 change\(s\), model changed, \d+\.\d ms", r.Stderr);

        var m = ModelSerializer.Load(compiled);
        var fused = m.Graph.Nodes.Where(n => n.DomainName == "com.acme").ToList();
        Assert.Equal(2, fused.Count);
        foreach (var node in fused)
        {
            Assert.Equal("TernaryMatMul", node.OpType);
            Assert.Equal("FuseTernaryMatMul", node.Metadata.Get(RewriteRule.MetadataKey));
            Assert.Equal((K, N, 0, 640), (node.GetInt("K", -1), node.GetInt("N", -1), node.GetInt("axis", -1), node.GetInt("block_size", -1)));
            Assert.Equal("w1.ttf1", node.Input(1)!.Name);
        }
        Assert.Equal(["y1", "y2"], fused.Select(n => n.Output().Name));
        // The Gemm's weight cannot be fused and keeps its TernaryDecode (with its body); the decoy stays a dense MatMul.
        Assert.Single(m.Graph.Nodes, n => n.OpType == "TernaryDecode" && n.Output().Uses.Single().Node.OpType == "Gemm");
        Assert.Single(m.Graph.Nodes, n => n.OpType == "MatMul" && n.Input(1)!.Name == "decoy");
        Assert.Equal(["com.acme::TernaryMatMul", "com.ternion::TernaryDecode"], m.Functions.Select(f => f.Key).Order(StringComparer.Ordinal));
        Assert.Equal(1, m.GetOpsetVersion("com.acme"));

        // Packed weights live in the data file, each at a 64-byte boundary.
        var packed = m.AllTensors().Where(t => t.DataType == DataType.UInt8).ToList();
        Assert.Equal(["w1.ttf1", "w2.ttf1"], packed.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.All(packed, t => Assert.Equal(0, ((ExternalTensorData)t.Data).Offset % 64));

        var verify = ModelVerifier.Verify(original, compiled, new VerifyOptions { Rtol = 1e-5, Atol = type == DataType.Float16 ? 1e-3 : 1e-6, Seed = 3 });
        Assert.True(verify.Ok, string.Join("; ", verify.Outputs));
    }

    [Fact]
    public void WhereTheRuleCannotFireVerboseSaysWhyAndTheModelStillVerifies()
    {
        // Opset 14 has no CastLike, which the reference body of TernaryMatMul needs.
        var original = Save(WeightModels.MatMulGemmModel(K, N, DataType.Float, ScaleKind.PerTensor, opset: 14), "opset14.onnx");
        var compiled = _dir.File("acme14.onnx");
        var r = CliRunner.Run("compile", original, "-o", compiled, "--target", "acme-npu", "--plugin", PluginBuilds.Acme, "--check", "-v");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("ternion: debug: rule FuseTernaryMatMul did not fire: closest match at node MatMul -> y1 failed because the model's default-domain opset is 14; TernaryMatMul's reference body needs 15", r.Stderr);

        var m = ModelSerializer.Load(compiled);
        Assert.DoesNotContain(m.AllNodes(), n => n.DomainName == "com.acme");
        Assert.Null(m.GetOpsetVersion("com.acme"));
        Assert.Equal(2, m.Graph.Nodes.Count(n => n.OpType == "TernaryDecode"));
        Assert.True(ModelVerifier.Verify(original, compiled, new VerifyOptions { Seed = 4 }).Ok);
    }

    [Fact]
    public void ThePluginPassWorksInAnotherTargetsPipeline()
    {
        var original = Save(WeightModels.MatMulGemmModel(K, N, DataType.Float, ScaleKind.PerChannel), "original.onnx");
        var compiled = _dir.File("fallback-fused.onnx");
        var r = CliRunner.Run("compile", original, "-o", compiled, "--target", "fallback", "--plugin", PluginBuilds.Acme, "--pass", "FuseTernaryMatMul", "--check");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var m = ModelSerializer.Load(compiled);
        Assert.Equal(2, m.Graph.Nodes.Count(n => n.DomainName == "com.acme"));
        Assert.True(ModelVerifier.Verify(original, compiled, new VerifyOptions { Seed = 5 }).Ok);
    }
}
