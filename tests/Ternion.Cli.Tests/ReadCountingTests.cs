using System.Text.Json;
using Ternion.IR.Onnx;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>
/// Tests that count the bytes this whole process reads (rchar): they run alone, after the parallel
/// tests, or another test loading a model at the same moment is counted as theirs (a fresh clone's
/// run once saw the sample's 5.5 MB added to inspect's count).
/// </summary>
[CollectionDefinition(nameof(ProcessReadCounting), DisableParallelization = true)]
public sealed class ProcessReadCounting;

[Collection(nameof(ProcessReadCounting))]
public class ReadCountingTests : IDisposable
{
    private readonly TempDir _dir = new("cli-reads");
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void InspectOfAFiveGigabyteModelReadsNoWeightBytes()
    {
        // 5 GB of external weights in a sparse file: inspect must answer from dims and keys alone.
        const long perTensor = 1L << 30; // bytes
        var data = _dir.File("w.bin");
        using (var f = new FileStream(data, FileMode.CreateNew)) f.SetLength(5 * perTensor);
        var g = new GraphProto { Name = "five" };
        g.Input.Add(Protos.Float("x", perTensor / 4));
        g.Output.Add(Protos.Float("y", perTensor / 4));
        string prev = "x";
        for (int i = 0; i < 5; i++)
        {
            var t = new TensorProto { Name = $"w{i}", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
            t.Dims.Add(perTensor / 4);
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "w.bin" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = (i * perTensor).ToString() });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = perTensor.ToString() });
            g.Initializer.Add(t);
            string next = i == 4 ? "y" : $"s{i}";
            g.Node.Add(Protos.Node("Add", [prev, $"w{i}"], [next]));
            prev = next;
        }
        var model = _dir.File("five.onnx");
        Protos.Write(Protos.Wrap(g), model);

        long before = ReadBytesOfThisProcess();
        var r = CliRunner.Run("inspect", model, "--json");
        long read = ReadBytesOfThisProcess() - before;
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(5 * perTensor, doc.RootElement.GetProperty("initializerBytes").GetInt64());
        var ext = doc.RootElement.GetProperty("externalData")[0];
        Assert.Equal("w.bin", ext.GetProperty("location").GetString());
        Assert.Equal(5, ext.GetProperty("tensors").GetInt32());
        Assert.True(read < 4 << 20, $"inspect read {read:N0} bytes; it must not read the 5 GB of weights");
    }

    /// <summary>rchar of /proc/self/io: every byte this process read through read(2).</summary>
    private static long ReadBytesOfThisProcess()
    {
        foreach (var line in File.ReadAllLines("/proc/self/io"))
            if (line.StartsWith("rchar:", StringComparison.Ordinal)) return long.Parse(line[6..].Trim());
        throw new InvalidOperationException("no rchar in /proc/self/io");
    }
}
