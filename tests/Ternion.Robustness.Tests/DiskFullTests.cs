using System.Diagnostics;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// A fact that needs a small tmpfs to fill up. Mounting needs root (CAP_SYS_ADMIN); where that is
/// missing the test is reported as skipped with the reason, never as passed.
/// </summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Tmpfs.Unavailable is { } why) Skip = $"needs to mount a tmpfs to fill a disk: {why}";
    }
}

/// <summary>A tmpfs of a given size mounted on a fresh folder; unmounted on dispose.</summary>
public sealed class Tmpfs : IDisposable
{
    public string Path { get; }

    public Tmpfs(long bytes)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ternion-tmpfs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
        var (code, err) = Run("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", Path);
        if (code != 0)
        {
            Directory.Delete(Path);
            throw new InvalidOperationException($"mount failed: {err}");
        }
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);
    public long Free => new DriveInfo(Path).AvailableFreeSpace;

    public void Dispose()
    {
        Run("umount", Path);
        try { Directory.Delete(Path); } catch (IOException) { }
    }

    /// <summary>Why a tmpfs cannot be mounted here, or null when it can (probed once, by mounting one).</summary>
    public static string? Unavailable => s_unavailable.Value;

    private static readonly Lazy<string?> s_unavailable = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        try { using var probe = new Tmpfs(1 << 20); return null; }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { return e.Message.Trim(); }
    });

    private static (int, string) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err);
    }
}

/// <summary>When the disk fills, the error says so, names the output, and nothing partial remains.</summary>
public class DiskFullTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new("diskfull");
    public void Dispose() => _dir.Dispose();

    private static string Sample => TruncationTests.SamplePath;

    private void AssertDiskFull(Tmpfs disk, string[] args, params string[] leftAlone)
    {
        var r = CliHarness.Run(args);
        log.WriteLine(r.ToString());
        var output = args[Array.IndexOf(args, "-o") + 1];
        Expect.Refused(r, output, "the disk is full", "nothing was written");
        // Nothing partial: no output, no data file, no hidden temporary file.
        Expect.FolderHolds(disk.Path, leftAlone);
    }

    [TmpfsFact]
    public void ModelTooLargeForTheDisk()
    {
        using var disk = new Tmpfs(1 << 20);
        AssertDiskFull(disk, ["convert", Sample, "-o", disk.File("out.onnx"), "--external-data", "never"]);
    }

    [TmpfsFact]
    public void DataFileTooLargeForTheDisk()
    {
        using var disk = new Tmpfs(1 << 20);
        AssertDiskFull(disk, ["convert", Sample, "-o", disk.File("out.onnx"), "--external-data", "always"]);
    }

    [TmpfsFact]
    public void CompiledWeightsTooLargeForTheDisk()
    {
        // native puts every packed weight in the data file; the sample packs to about 300 KB.
        using var disk = new Tmpfs(64 << 10);
        AssertDiskFull(disk, ["compile", Sample, "-o", disk.File("out.onnx"), "--target", "native"]);
    }

    [TmpfsFact]
    public void DiskFillsAfterTheDataFileWhileWritingTheModel()
    {
        // Learn the sizes on a roomy disk, then leave room for the data file but not the model:
        // the finished temporary data file must go too.
        var probe = CliHarness.Run("convert", Sample, "-o", _dir.File("out.onnx"), "--external-data", "always");
        Assert.True(probe.ExitCode == 0, probe.ToString());
        long data = new FileInfo(_dir.File("out.onnx.data")).Length, model = new FileInfo(_dir.File("out.onnx")).Length;
        Assert.True(model > 8192, $"the model file is only {model} bytes; the test needs it to span more than two pages");
        using var disk = new Tmpfs(16 << 20);
        long pageRounded = (data + 4095) / 4096 * 4096;
        long filler = disk.Free - pageRounded - 4096;
        using (var f = new FileStream(disk.File("filler"), FileMode.CreateNew)) f.Write(new byte[filler]);
        AssertDiskFull(disk, ["convert", Sample, "-o", disk.File("out.onnx"), "--external-data", "always"], "filler");
        // With room for the model too, the same run succeeds: so the one above got past the data file.
        File.Delete(disk.File("filler"));
        using (var f = new FileStream(disk.File("filler"), FileMode.CreateNew)) f.Write(new byte[filler - (model + 4095) / 4096 * 4096]);
        var r = CliHarness.Run("convert", Sample, "-o", disk.File("out.onnx"), "--external-data", "always");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [TmpfsFact]
    public void DiskFillsWhileExternalDataIsCopiedWithinOneFileSystem()
    {
        // Source and output on the same file system: unchanged external tensors are copied inside
        // the kernel (copy_file_range), whose ENOSPC must read like any other full disk.
        using var disk = new Tmpfs(16 << 20);
        var src = disk.File("src.onnx");
        var made = CliHarness.Run("convert", Sample, "-o", src, "--external-data", "always");
        Assert.True(made.ExitCode == 0, made.ToString());
        long data = new FileInfo(src + ".data").Length;
        using (var f = new FileStream(disk.File("filler"), FileMode.CreateNew)) f.Write(new byte[disk.Free - data / 2]);
        AssertDiskFull(disk, ["convert", src, "-o", disk.File("out.onnx"), "--external-data", "always"], "src.onnx", "src.onnx.data", "filler");
        File.Delete(disk.File("filler"));
        var r = CliHarness.Run("convert", src, "-o", disk.File("out.onnx"), "--external-data", "always");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(File.ReadAllBytes(src + ".data"), File.ReadAllBytes(disk.File("out.onnx.data")));
    }

    [TmpfsFact]
    public void TheSameRunSucceedsOnceThereIsRoom()
    {
        // Guards against a disk-full message that fires on every write to a tmpfs.
        using var disk = new Tmpfs(32 << 20);
        var r = CliHarness.Run("convert", Sample, "-o", disk.File("out.onnx"), "--external-data", "always");
        Assert.True(r.ExitCode == 0, r.ToString());
        Expect.FolderHolds(disk.Path, "out.onnx", "out.onnx.data");
    }
}
