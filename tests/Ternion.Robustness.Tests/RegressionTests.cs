using System.Diagnostics;
using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;

namespace Ternion.Robustness.Tests;

/// <summary>One test per defect the corpus and the fuzzer found, each pinned to the exact behaviour of the fix.</summary>
public class RegressionTests : IDisposable
{
    private readonly TempDir _dir = new("regress");
    public void Dispose() => _dir.Dispose();

    private static Model Load(ModelProto m, string name = "m.onnx") => ModelSerializer.FromBytes(m.ToByteArray(), name);

    [Fact]
    public void ADeadMatMulWithAnOmittedOutputCompilesForOrtNBits()
    {
        // A second MatMul reads the same weight and has its output omitted (""): nothing reads it.
        var m = TernaryMatMul(m => m.Graph.Node.Add(Protos.Node("MatMul", ["x", "w"], [""])));
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
        {
            var r = Compile(m, target);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    [Fact]
    public void ATernaryDecodeWithAnOmittedOutputIsRefused()
    {
        var m = ModelProtos.TernaryDecodeModel((n, p, s) => n.Output[0] = "");
        m.Graph.Node.RemoveAt(1);
        m.Graph.Output[0] = Protos.Float("x", 2, 640);
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
            Expect.Refused(Compile(m, target), "m.onnx", "TernaryDecode", "one output");
    }

    [Fact]
    public void ATernaryDecodeWithAMissingInputIsRefused()
    {
        var m = ModelProtos.TernaryDecodeModel((n, p, s) => n.Input.RemoveAt(1));
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
            Expect.Refused(Compile(m, target), "m.onnx", "TernaryDecode", "two inputs");
    }

    [Fact]
    public void ADequantizeLinearWithoutOutputsIsNoPackingCandidate()
    {
        // An int8 weight of trits read only by a DequantizeLinear that has no outputs at all.
        var m = TernaryMatMul(m =>
        {
            var q = new TensorProto { Name = "q", DataType = (int)Ternion.IR.DataType.Int8, RawData = ByteString.CopyFrom(Enumerable.Range(0, 2048).Select(i => (byte)(i % 3 == 0 ? 0xFF : i % 3)).ToArray()) };
            q.Dims.AddRange([64, 32]);
            m.Graph.Initializer.Add(q);
            m.Graph.Initializer.Add(Protos.FloatTensor("qs", [], [0.5f]));
            m.Graph.Node.Add(Protos.Node("DequantizeLinear", ["q", "qs"], []));
        });
        var r = Compile(m, "fallback");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void AnEmptyInt8WeightWithMinElementsZeroIsNoPackingCandidate()
    {
        // --min-elements 0 lets a [0, 32] int8 weight through to the per-channel arithmetic.
        var m = TernaryMatMul(m =>
        {
            var q = new TensorProto { Name = "q", DataType = (int)Ternion.IR.DataType.Int8, RawData = ByteString.Empty };
            q.Dims.AddRange([0, 32]);
            m.Graph.Initializer.Add(q);
            m.Graph.Initializer.Add(Protos.FloatTensor("qs", [32], new float[32]));
            m.Graph.Input.Add(Protos.Float("e", 2, 0));
            m.Graph.Node.Add(Protos.Node("DequantizeLinear", ["q", "qs"], ["dq"]));
            m.Graph.Node.Add(Protos.Node("MatMul", ["e", "dq"], ["z"]));
            m.Graph.Output.Add(Protos.Float("z", 2, 32));
        });
        foreach (var target in new[] { "fallback", "folded" })
        {
            var r = Compile(m, target, "--min-elements", "0");
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    [Fact]
    public void ATensorStoredInSegmentsIsCarriedNotRead()
    {
        // A legacy segment switches off the size check, so the loader cannot trust its data:
        // convert carries it as it is, and compile must not read more values than dims allow.
        var m = TernaryMatMul(m =>
        {
            var w = m.Graph.Initializer[0];
            var values = Enumerable.Range(0, 64 * 32 + 100).Select(i => (i % 3 - 1) * 0.5f).ToArray();
            w.ClearRawData();
            w.FloatData.AddRange(values);
            w.Segment = new TensorProto.Types.Segment { Begin = 0, End = values.Length };
        });
        var model = _dir.File("seg.onnx");
        Protos.Write(m, model);
        Expect.Succeeded(CliHarness.Run("convert", model, "-o", _dir.File("c.onnx")));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(_dir.File("c.onnx")));
        // --external-data always moves every tensor of 1 KiB or more, except this one, which it cannot read.
        Expect.Succeeded(CliHarness.Run("convert", model, "-o", _dir.File("c2.onnx"), "--external-data", "always"));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(_dir.File("c2.onnx")));
        foreach (var target in new[] { "fallback", "folded" })
        {
            var r = Compile(m, target, "--report", _dir.File("r.json"));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("stored in segments", File.ReadAllText(_dir.File("r.json")));
        }
    }
}
