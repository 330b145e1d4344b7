using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Several runs into one folder at once, as threads of one process and as processes: each writes
/// its own output through its own temporary files, so every output is exactly what the run alone
/// writes (output is deterministic) and no temporary file is left.
/// </summary>
public class ConcurrencyTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new("concurrent");
    public void Dispose() => _dir.Dispose();

    private static string Sample => TruncationTests.SamplePath;

    /// <summary>Six different jobs, each with its own output name in the same folder.</summary>
    private string[][] Jobs(string folder) =>
    [
        ["convert", Sample, "-o", Path.Combine(folder, "convert-inline.onnx"), "--external-data", "never"],
        ["convert", Sample, "-o", Path.Combine(folder, "convert-external.onnx"), "--external-data", "always"],
        ["compile", Sample, "-o", Path.Combine(folder, "fallback.onnx"), "--target", "fallback"],
        ["compile", Sample, "-o", Path.Combine(folder, "native.onnx"), "--target", "native", "--report", Path.Combine(folder, "native.json")],
        ["compile", Sample, "-o", Path.Combine(folder, "folded.onnx"), "--target", "folded"],
        ["compile", Sample, "-o", Path.Combine(folder, "ort-nbits.onnx"), "--target", "ort-nbits"],
    ];

    /// <summary>Every file the jobs write, run one at a time: what the concurrent runs must reproduce byte for byte.</summary>
    private Dictionary<string, byte[]> Reference()
    {
        var folder = _dir.File("serial");
        Directory.CreateDirectory(folder);
        foreach (var job in Jobs(folder))
        {
            var r = CliHarness.Run(job);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        // The report holds timings, which differ from run to run: compared by presence only.
        return Directory.GetFiles(folder).Where(f => !f.EndsWith(".json", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
    }

    private void AssertSameOutputs(Dictionary<string, byte[]> expected, string folder)
    {
        Expect.FolderHolds(folder, [.. expected.Keys, "native.json"]);
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder, name))), $"{name} differs from the file a run alone writes");
    }

    [Fact]
    public void ThreadsWritingDifferentOutputsIntoOneFolder()
    {
        var expected = Reference();
        var folder = _dir.File("threads");
        Directory.CreateDirectory(folder);
        var jobs = Jobs(folder);
        using var start = new Barrier(jobs.Length);
        var outcomes = new CliOutcome[jobs.Length];
        var threads = jobs.Select((job, i) => new Thread(() =>
        {
            start.SignalAndWait();
            outcomes[i] = CliHarness.RunConcurrently(job);
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(120)), "a concurrent run did not finish");
        foreach (var r in outcomes) { log.WriteLine(r.ToString()); Assert.True(r.ExitCode == 0, r.ToString()); }
        AssertSameOutputs(expected, folder);
    }

    [Fact]
    public async Task ProcessesWritingDifferentOutputsIntoOneFolder()
    {
        var expected = Reference();
        var folder = _dir.File("processes");
        Directory.CreateDirectory(folder);
        var runs = Jobs(folder).Select(job => Task.Run(() => CliHarness.RunProcess(TimeSpan.FromSeconds(180), null, null, job))).ToArray();
        foreach (var r in await Task.WhenAll(runs)) { log.WriteLine(r.ToString()); Assert.True(r.ExitCode == 0, r.ToString()); }
        AssertSameOutputs(expected, folder);
    }

    [Fact]
    public async Task ProcessesWritingTheSameOutputLeaveOneCompleteFile()
    {
        // Last rename wins: whichever run finishes last, the file is whole, never a mix of two writes.
        var expected = Reference();
        var output = _dir.File("same.onnx");
        var runs = Enumerable.Range(0, 4).Select(_ => Task.Run(() => CliHarness.RunProcess(TimeSpan.FromSeconds(180), null, null, "compile", Sample, "-o", output, "--target", "folded"))).ToArray();
        foreach (var r in await Task.WhenAll(runs)) Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(expected["folded.onnx"].AsSpan().SequenceEqual(File.ReadAllBytes(output)));
        Expect.FolderHolds(_dir.Path, "serial", "same.onnx");
    }
}
