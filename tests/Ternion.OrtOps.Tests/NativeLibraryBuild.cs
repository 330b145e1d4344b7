using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Ternion.TestSupport;

namespace Ternion.OrtOps.Tests;

/// <summary>
/// The NativeAOT build of Backends/OrtOps (build-native.sh: Ternion.OrtOps.so exporting RegisterCustomOps), made
/// once per content of its sources and kept in the temp folder, so the default test run pays
/// for it only when the code changed. The sources are copied and published apart from the
/// repository: a publish with PublishAot restores the projects differently, and must not touch
/// the obj folders that the test build of the same projects is using.
/// </summary>
public static class NativeLibraryBuild
{
    /// <summary>Why the library cannot be built here, or null.</summary>
    public static string? Unavailable { get; } = FindUnavailable();

    private static string? FindUnavailable()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
            return "the NativeAOT library is built for linux-x64 only";
        if (OnPath("clang") is null && OnPath("gcc") is null)
            return "NativeAOT links with clang (or gcc), and neither is on PATH; install the Debian packages clang and zlib1g-dev (.ci/run does)";
        return null;
    }

    private static string? OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static readonly string[] SourceRoots = ["IR", "Backends/Kernels", "Backends/OrtOps"];

    private static readonly Lazy<string> s_library = new(Build);

    /// <summary>
    /// Path of Ternion.OrtOps.so (the AVX2 build, which hands over to avx512/Ternion.OrtOps.so on
    /// AVX-512 VBMI CPUs), built on first use (about a minute), then reused from the cache.
    /// </summary>
    public static string Library => s_library.Value;

    private static IEnumerable<string> Sources() =>
        SourceRoots.SelectMany(root => Directory.EnumerateFiles(Path.Combine(Paths.RepoRoot, root), "*", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(Paths.RepoRoot, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').Any(part => part is "bin" or "obj"))
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".proto", StringComparison.Ordinal) || f.EndsWith(".sh", StringComparison.Ordinal))
            .Append("Directory.Build.props")
            .Order(StringComparer.Ordinal);

    private static string Build()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = Sources().ToList();
        foreach (var f in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(f + "\n"));
            sha.AppendData(File.ReadAllBytes(Path.Combine(Paths.RepoRoot, f)));
        }
        string key = Convert.ToHexString(sha.GetHashAndReset())[..16].ToLowerInvariant();
        string cache = Path.Combine(Path.GetTempPath(), "ternion-ortops-native", key);
        string library = Path.Combine(cache, "lib", "Ternion.OrtOps.so");
        bool Built() => File.Exists(library) && File.Exists(Path.Combine(cache, "lib", "avx512", "Ternion.OrtOps.so"));
        if (Built()) return library;

        Directory.CreateDirectory(cache);
        // One build at a time per content (test processes may run in parallel).
        using var gate = new FileStream(Path.Combine(cache, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        if (Built()) return library;
        string src = Path.Combine(cache, "src");
        if (Directory.Exists(src)) Directory.Delete(src, recursive: true);
        foreach (var f in files)
        {
            var to = Path.Combine(src, f);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(Path.Combine(Paths.RepoRoot, f), to);
        }
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = src };
        foreach (var a in new[] { "Backends/OrtOps/build-native.sh", Path.Combine(cache, "lib") }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(15))) { p.Kill(true); throw new TimeoutException("dotnet publish (NativeAOT) took more than 15 minutes"); }
        if (p.ExitCode != 0 || !Built())
        {
            var tail = string.Join("\n", (stdout + stderr.Result).Split('\n').Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).TakeLast(10));
            throw new InvalidOperationException($"Backends/OrtOps/build-native.sh (NativeAOT) failed (exit {p.ExitCode}):\n{tail}");
        }
        Directory.Delete(src, recursive: true);
        return library;
    }
}

/// <summary>
/// A fact that needs the NativeAOT library. Building it takes about a minute, too long for the
/// default test run, so these facts run when TERNION_NATIVE_LIBRARY_TESTS=1 (.ci/run sets it in a
/// second step) and are reported as skipped, with the reason, otherwise or where it cannot be built.
/// </summary>
public sealed class NativeLibraryFactAttribute : FactAttribute
{
    public const string Switch = "TERNION_NATIVE_LIBRARY_TESTS";

    public NativeLibraryFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Switch) != "1")
            Skip = $"slow (builds the NativeAOT library, about a minute; cached afterwards): run with {Switch}=1, as .ci/run does";
        else if (NativeLibraryBuild.Unavailable is { } why) Skip = why;
    }
}
