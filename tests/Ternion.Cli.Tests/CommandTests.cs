using System.Text.Json;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>inspect, convert and verify as a user runs them.</summary>
public class CommandTests : IDisposable
{
    private readonly TempDir _dir = new("cli");
    public void Dispose() => _dir.Dispose();

    private static string Silero => Path.Combine(Paths.Shared, "models", "silero-vad-v5", "model.onnx");
    private const string SileroNeeded = "models/silero-vad-v5/model.onnx";

    /// <summary>A vendored ONNX node test's model (testdata/conformance/onnx-node), there on any clone.</summary>
    private static string NodeTest(string name) => Path.Combine(Paths.VendoredConformance, "onnx-node", name, "model.onnx");
    private static string Sample => Path.Combine(Paths.TestData, "bitnet-tiny", "model.onnx");

    [SharedDataFact(SileroNeeded)]
    public void InspectJsonReportsVersionsOpsAndDepth()
    {
        var r = CliRunner.Run("inspect", Silero, "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(8, root.GetProperty("irVersion").GetInt64());
        Assert.Equal(16, root.GetProperty("opsets").GetProperty("ai.onnx").GetInt64());
        Assert.Equal("spox", root.GetProperty("producer").GetString());
        var ops = root.GetProperty("ops");
        Assert.Equal(25, ops.GetProperty("ai.onnx::If").GetInt32());
        Assert.Equal(4, ops.GetProperty("ai.onnx::LSTM").GetInt32());
        int total = ops.EnumerateObject().Sum(p => p.Value.GetInt32());
        Assert.Equal(root.GetProperty("nodes").GetInt32(), total);
        Assert.True(root.GetProperty("maxSubgraphDepth").GetInt32() >= 2, "silero nests If inside If");
        Assert.Equal(3, root.GetProperty("inputs").GetArrayLength());
    }

    [PageCacheFact]
    public void InspectOfAnInlineModelReadsNoWeightBytes()
    {
        // Inline weights are read through a memory mapping, which rchar does not count: drop the
        // file from the page cache, inspect, and count the pages of the file that came back.
        var model = _dir.File("inline.onnx");
        long size = InlineModels.WriteLargeRaw(model, 128);
        Assert.True(PageCache.TryDrop(model, out string why), $"the model stayed in the page cache: {why}");
        long before = PageCache.ResidentBytes(model);
        var r = CliRunner.Run("inspect", model, "--json");
        long read = PageCache.ResidentBytes(model) - before;
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(32L << 22, doc.RootElement.GetProperty("initializerBytes").GetInt64());
        Assert.Equal(0, doc.RootElement.GetProperty("externalData").GetArrayLength());
        // The walker reads each tensor's tag and length: a page or two per tensor, not its 4 MiB (the
        // mapping is marked random-access, or the kernel would read megabytes around every page).
        Assert.True(read < 1 << 20, $"inspect brought {read:N0} bytes of the {size:N0}-byte model into memory ({before:N0} were there before)");
    }


    /// <summary>A real model with If nested in If and LSTMs.</summary>
    [SharedDataFact(SileroNeeded)]
    public void ConvertIsLosslessAndDeterministic() => ConvertTwiceGivesTheSameBytes(Silero);

    [Theory]
    [InlineData("test_if")]
    [InlineData("test_loop11")]
    [InlineData("test_scan9_sum")]
    [InlineData("test_cast_FLOAT_to_BFLOAT16")]
    public void ConvertOfAVendoredNodeTestIsLosslessAndDeterministic(string test) => ConvertTwiceGivesTheSameBytes(NodeTest(test));

    private void ConvertTwiceGivesTheSameBytes(string model)
    {
        var a = _dir.File("a.onnx");
        var b = _dir.File("b.onnx");
        Assert.Equal(0, CliRunner.Run("convert", model, "-o", a).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", a, "-o", b).ExitCode);
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(a));
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [SharedDataFact("models/ppocr-v2-cls/model.onnx")]
    public void ConvertAlwaysExternalAlignsEveryTensor() =>
        ConvertAlwaysExternalAlignsEveryTensorOf(Path.Combine(Paths.Shared, "models", "ppocr-v2-cls", "model.onnx"));

    [Fact]
    public void ConvertAlwaysExternalAlignsEveryTensorOfTheSample() => ConvertAlwaysExternalAlignsEveryTensorOf(Sample);

    private void ConvertAlwaysExternalAlignsEveryTensorOf(string model)
    {
        var outPath = _dir.File("ext.onnx");
        var r = CliRunner.Run("convert", model, "-o", outPath, "--external-data", "always", "--align", "64");
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(outPath + ".data"));
        var m = ModelSerializer.Load(outPath);
        var ext = m.AllTensors().Select(t => t.Data).OfType<ExternalTensorData>().ToList();
        Assert.NotEmpty(ext);
        Assert.All(ext, e => Assert.Equal(0, e.Offset % 64));
        // And the values are the original ones.
        var orig = ModelSerializer.Load(model).AllTensors().ToDictionary(t => t.Name!);
        foreach (var t in m.AllTensors())
        {
            using var x = t.Data.Open();
            using var y = orig[t.Name!].Data.Open();
            Assert.True(x.Span.SequenceEqual(y.Span), $"tensor {t.Name} changed");
        }
        // Converting back inline gives the original proto again.
        var back = _dir.File("back.onnx");
        Assert.Equal(0, CliRunner.Run("convert", outPath, "-o", back, "--external-data", "never").ExitCode);
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(back));
    }

    [Fact]
    public void ConvertRefusesToOverwriteItsInput()
    {
        var copy = _dir.File("m.onnx");
        File.Copy(NodeTest("test_loop11"), copy);
        var before = File.ReadAllBytes(copy);
        var r = CliRunner.Run("convert", copy, "-o", copy);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("refusing to overwrite", r.Stderr);
        Assert.Equal(before, File.ReadAllBytes(copy));
    }

    [Fact]
    public void ConvertRejectsSmallAlignment()
    {
        var r = CliRunner.Run("convert", NodeTest("test_loop11"), "-o", _dir.File("x.onnx"), "--align", "16");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--align", r.Stderr);
        Assert.False(File.Exists(_dir.File("x.onnx")));
    }

    [Fact]
    public void VerifyPassesForTheSameModelAndFailsForAChangedOne()
    {
        var test = Path.Combine(Paths.VendoredConformance, "onnx-node", "test_relu");
        var model = Path.Combine(test, "model.onnx");
        var same = CliRunner.Run("verify", model, model, "--inputs", Path.Combine(test, "test_data_set_0"), "--exact");
        Assert.Equal(0, same.ExitCode);
        Assert.Contains("OK", same.Stdout);

        // A candidate computing something else (Abs instead of Relu) must be caught.
        var m = ModelSerializer.Load(model);
        m.Graph.Nodes.First!.OpType = "Abs";
        var changed = _dir.File("abs.onnx");
        ModelSerializer.Save(m, changed);
        var diff = CliRunner.Run("verify", model, changed, "--inputs", Path.Combine(test, "test_data_set_0"));
        Assert.Equal(1, diff.ExitCode);
        Assert.Contains("DIFFERS", diff.Stdout);

        // Generated inputs (no --inputs) find the difference too.
        var gen = CliRunner.Run("verify", model, changed, "--seed", "3");
        Assert.Equal(1, gen.ExitCode);
    }

    [Fact]
    public void VerifyOnAnUnreadableCandidateIsAnError()
    {
        var bad = _dir.File("bad.onnx");
        File.WriteAllText(bad, "not a model");
        var r = CliRunner.Run("verify", NodeTest("test_loop11"), bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.ErrorLines);
    }

    [Fact]
    public void UnknownOptionIsAnErrorWithExitCode2()
    {
        var r = CliRunner.Run("inspect", NodeTest("test_loop11"), "--bogus");
        Assert.Equal(2, r.ExitCode);
    }
}

/// <summary>A fact that counts page-cache residency; skipped, with the reason, where pages cannot be dropped.</summary>
public sealed class PageCacheFactAttribute : FactAttribute
{
    public PageCacheFactAttribute()
    {
        if (PageCache.Unavailable is { } why) Skip = $"needs to drop a file from the page cache to count what is read: {why}";
    }
}

/// <summary>Which pages of a file are in the page cache (mincore), and dropping them (posix_fadvise).</summary>
internal static unsafe class PageCache
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"ternion-pagecache-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(path, new byte[4 << 20]);
            return TryDrop(path, out string why) ? null : why;
        }
        catch (Exception e) when (e is IOException or DllNotFoundException or EntryPointNotFoundException) { return e.Message; }
        finally { File.Delete(path); }
    });

    /// <summary>Null where dropping works, else why not.</summary>
    public static string? Unavailable => Probe.Value;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long length, int advice);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mincore(void* address, nuint length, byte* vector);

    private const int PosixFadvDontNeed = 4;

    /// <summary>Writes the file's dirty pages and asks the kernel to drop its pages; false with a reason when they stay.</summary>
    public static bool TryDrop(string path, out string why)
    {
        why = "";
        if (!OperatingSystem.IsLinux()) { why = "not Linux"; return false; }
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            f.Flush(flushToDisk: true);
            int rc = posix_fadvise((int)f.SafeFileHandle.DangerousGetHandle(), 0, 0, PosixFadvDontNeed);
            if (rc != 0) { why = $"posix_fadvise: error {rc}"; return false; }
        }
        long resident = ResidentBytes(path), size = new FileInfo(path).Length;
        if (resident > size / 100) { why = $"{resident:N0} of {size:N0} bytes stayed cached"; return false; }
        return true;
    }

    public static long ResidentBytes(string path)
    {
        using var file = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        long length = new FileInfo(path).Length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            long pages = (length + 4095) / 4096;
            var vector = new byte[pages];
            fixed (byte* v = vector)
                if (mincore(p + view.PointerOffset, (nuint)length, v) != 0)
                    throw new IOException($"mincore: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            return vector.Count(b => (b & 1) != 0) * 4096L;
        }
        finally { view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }
}
