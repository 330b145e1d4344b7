using System.Security.Cryptography;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.IR.Onnx;
using Ternion.TestSupport;

namespace Ternion.IR.Tests;

/// <summary>Models past protobuf's 2 GiB limit: saved with external data, read back intact.</summary>
public class LargeModelTests
{
    /// <summary>y = x + w0 + w1 ... over float [n]: every initializer is used, so nothing is dead.</summary>
    private static Model SumModel(IReadOnlyList<Tensor> weights, long n)
    {
        var g = new Graph { Name = "big" };
        var m = new Model(g) { IrVersion = 8 };
        m.OpsetImports.Add(new OpsetId("", 17));
        var acc = g.AddInput("x", IrType.Tensor(DataType.Float, n));
        foreach (var w in weights)
        {
            var v = g.AddInitializer(w);
            acc = g.Append(new Node("", "Add", [acc, v], 1)).Output();
        }
        g.Outputs.Add(acc);
        acc.Type = IrType.Tensor(DataType.Float, n);
        return m;
    }

    [Fact]
    public void InMemoryModelOverTwoGiBSwitchesToExternalDataAutomatically()
    {
        // Two 1.1 GB tensors sharing one buffer: 2.2 GB of weights, 1.1 GB of memory.
        const long n = 275_000_000; // floats -> 1.1 GB
        var buffer = new byte[n * 4];
        for (long i = 0; i < buffer.Length; i += 4096) buffer[i] = (byte)(i / 4096 % 251);
        var data = new MemoryTensorData(buffer);
        var model = SumModel([new Tensor("w0", DataType.Float, [n], data), new Tensor("w1", DataType.Float, [n], data)], n);
        using var dir = new TempDir("big");
        var path = dir.File("big.onnx");

        var never = Assert.Throws<TernionException>(() => ModelSerializer.Save(model, path, new SaveOptions { ExternalData = ExternalDataMode.Never }));
        Assert.Contains("2 GiB", never.Message);
        Assert.False(File.Exists(path));

        var result = ModelSerializer.Save(model, path);
        Assert.NotNull(result.DataPath);
        Assert.Equal(2, result.ExternalTensors);
        Assert.True(new FileInfo(path).Length < 1 << 20, "the .onnx file itself stays small");

        var back = ModelSerializer.Load(path);
        var tensors = back.Graph.Initializers.Select(v => v.Initializer!).ToList();
        Assert.All(tensors, t => Assert.IsType<ExternalTensorData>(t.Data));
        var expectedHash = SHA256.HashData(buffer);
        foreach (var t in tensors)
        {
            var e = (ExternalTensorData)t.Data;
            Assert.Equal(0, e.Offset % 4096);
            using var bytes = t.Data.Open();
            Assert.Equal(expectedHash, SHA256.HashData(bytes.Span));
        }
    }

    [Fact]
    public void ExternalModelOverTwoGiBConvertsWithItsDataIntact()
    {
        using var dir = new TempDir("bigext");
        const long n = 300_000_000; // 1.2 GB per tensor, 2.4 GB in all
        var src = dir.File("weights.bin");
        var rng = new Random(7);
        var marks = new List<(long Offset, byte[] Bytes)>();
        using (var f = new FileStream(src, FileMode.CreateNew))
        {
            f.SetLength(2 * n * 4); // sparse: zeros cost no disk until written
            foreach (var off in new long[] { 0, n * 4 - 4096, n * 4, 2 * n * 4 - 4096, n * 2 })
            {
                var b = new byte[4096];
                rng.NextBytes(b);
                f.Position = off;
                f.Write(b);
                marks.Add((off, b));
            }
        }
        // The source model points into weights.bin by key (location, offset, length).
        var g = new GraphProto { Name = "big" };
        g.Input.Add(Protos.Float("x", n));
        g.Output.Add(Protos.Float("y", n));
        for (int i = 0; i < 2; i++)
        {
            var t = new TensorProto { Name = $"w{i}", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
            t.Dims.Add(n);
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = (i * n * 4).ToString() });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = (n * 4).ToString() });
            g.Initializer.Add(t);
        }
        g.Node.Add(Protos.Node("Add", ["x", "w0"], ["s"]));
        g.Node.Add(Protos.Node("Add", ["s", "w1"], ["y"]));
        var srcModel = dir.File("src.onnx");
        Protos.Write(Protos.Wrap(g), srcModel);

        var loaded = ModelSerializer.Load(srcModel);
        var outPath = dir.File("out.onnx");
        var r = ModelSerializer.Save(loaded, outPath, new SaveOptions { Alignment = 64 });
        Assert.Equal(2, r.ExternalTensors);

        var back = ModelSerializer.Load(outPath);
        var outTensors = back.Graph.Initializers.Select(v => (ExternalTensorData)v.Initializer!.Data).ToList();
        Assert.All(outTensors, e => Assert.Equal(0, e.Offset % 64));
        foreach (var (off, bytes) in marks)
        {
            var t = outTensors[(int)(off / (n * 4))];
            var window = new byte[bytes.Length];
            t.Read(off % (n * 4), window);
            Assert.Equal(bytes, window);
        }
    }
}
