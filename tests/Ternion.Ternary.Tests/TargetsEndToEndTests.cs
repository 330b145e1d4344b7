using Ternion.Backends;
using Ternion.Backends.Targets;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.TestSupport;

namespace Ternion.Ternary.Tests;

/// <summary>
/// Every built-in target, on models with ternary MatMul and Gemm(transB=1) weights, a shared weight
/// and a decoy: ONNX Runtime on the compiled model gives the original's outputs — bit-identical for
/// `folded`, within 1e-5 relative for the others — and the decoy stays dense.
/// </summary>
public class TargetsEndToEndTests
{
    public static TheoryData<string, DataType, ScaleKind, int, int> Cases()
    {
        var d = new TheoryData<string, DataType, ScaleKind, int, int>();
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits", "ort-ttf1" })
            foreach (var type in new[] { DataType.Float, DataType.Float16 })
                foreach (var kind in new[] { ScaleKind.PerTensor, ScaleKind.PerChannel })
                {
                    d.Add(target, type, kind, 700, 320);   // K not a multiple of the block
                    d.Add(target, type, kind, 640, 640);   // exact blocks of 640
                }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CompiledModelComputesWhatTheOriginalComputed(string targetName, DataType type, ScaleKind kind, int k, int blockSize)
    {
        const int n = 48;
        using var dir = new TempDir("targets");
        var original = WeightModels.MatMulGemmModel(k, n, type, kind);
        var originalPath = dir.File("original.onnx");
        ModelSerializer.Save(original, originalPath);

        var result = TernionCompiler.Compile(new CompileRequest
        {
            InputPath = originalPath, OutputPath = dir.File("compiled.onnx"), Target = targetName, BlockSize = blockSize, CheckInvariants = true,
        });
        var report = result.Report;
        Assert.Equal(["w1", "w2"], report.TernaryWeights.Select(w => w.Name).Order());
        // The decoy is ternary but for one element of s/2: a near-miss, reported with count, value and index.
        var decoyReason = Assert.Single(report.Rejected, r => r.Name == "decoy").Reason;
        Assert.Matches(@"^1 of [\d,]+ elements is not 0 or ±0\.037\d*: -?0\.018\d* at \[\d+, \d+\]$", decoyReason);
        foreach (var w in report.TernaryWeights)
        {
            Assert.Equal(kind == ScaleKind.PerTensor ? "per-tensor" : "per-channel", w.ScaleKind);
            // Spec section 3: N x ceil(K / bs) x bs / 5 bytes for a [K, N] weight.
            Assert.Equal(n * ((k + blockSize - 1) / blockSize) * (blockSize / 5), w.PackedBytes);
        }
        Assert.Equal(0, report.TernaryWeights.Single(w => w.Name == "w1").Axis);
        Assert.Equal(1, report.TernaryWeights.Single(w => w.Name == "w2").Axis);

        var compiled = ModelSerializer.Load(dir.File("compiled.onnx"));
        var decoy = compiled.Graph.Initializers.Single(v => v.Name == "decoy").Initializer!;
        Assert.Equal(type, decoy.DataType);
        if (targetName == "folded")
        {
            Assert.DoesNotContain(compiled.AllNodes(), node => node.DomainName.Length > 0);
            Assert.Empty(compiled.Functions);
        }
        if (targetName == "native")
        {
            var packed = compiled.AllTensors().Where(t => t.DataType == DataType.UInt8).ToList();
            Assert.Equal(2, packed.Count);
            Assert.All(packed, t => Assert.Equal(0, ((ExternalTensorData)t.Data).Offset % 64));
        }

        if (targetName == "ort-nbits")
        {
            // Both MatMuls reading w1 run on ORT's 2-bit kernel; the Gemm keeps its TernaryDecode.
            Assert.Equal(2, compiled.AllNodes().Count(node => node.OpType == "MatMulNBits" && node.DomainName == "com.microsoft"));
            Assert.Single(compiled.AllNodes(), node => node.OpType == "TernaryDecode");
        }
        if (targetName == "ort-ttf1")
        {
            // Both MatMuls and the Gemm read the packed weights directly; no dense weight and no decode is left.
            Assert.Equal(3, compiled.AllNodes().Count(node => node.OpType == "TernaryMatMul" && node.DomainName == "com.ternion"));
            Assert.DoesNotContain(compiled.AllNodes(), node => node.OpType == "TernaryDecode");
            Assert.True(ModelVerifier.NeedsTernionOps(compiled));
        }
        if (targetName is "fallback" or "native")
            Assert.Equal(2, compiled.AllNodes().Count(node => node.OpType == "TernaryDecode" && node.DomainName == "com.ternion"));

        var verify = ModelVerifier.Verify(originalPath, dir.File("compiled.onnx"), new VerifyOptions
        {
            Exact = targetName == "folded",
            Rtol = 1e-5,
            Atol = type == DataType.Float16 ? 1e-3 : 1e-6,
            Seed = 11,
        });
        Assert.True(verify.Ok, string.Join("; ", verify.Outputs));
    }
}
