using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Cli.Tests;

/// <summary>
/// Packs the CLI and the libraries once, from the build this test run already made (Pack with
/// NoBuild, the test's own configuration), into a temporary folder. `dotnet pack Compiler.sln
/// -c Release -o nupkg` does the same with a build of its own.
/// </summary>
public sealed class PackedFolder : IDisposable
{
    public static readonly string[] Projects = ["IR/Ternion.IR.csproj", "Backends/Kernels/Ternion.Kernels.csproj", "Backends/OrtOps/Ternion.OrtOps.csproj",
        "Passes/Ternion.Passes.csproj", "Backends/Ternion.Backends.csproj", "Compiler/Ternion.Compiler.csproj"];

    private readonly TempDir _dir = new("pack");

    public PackedFolder()
    {
        Folder = Path.Combine(_dir.Path, "nupkg");
        string configuration = typeof(PackedFolder).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        // The Pack target of the six projects in one MSBuild run (what `dotnet pack --no-build` does
        // for each): one start-up instead of four, 5 s instead of 13 on the 2-core machine.
        string traversal = Path.Combine(_dir.Path, "pack.proj");
        string projects = string.Join(";", Projects.Select(p => Path.Combine(Paths.RepoRoot, p)));
        File.WriteAllText(traversal, $"""
            <Project>
              <Target Name="Build">
                <MSBuild Projects="{projects}" Targets="Pack" BuildInParallel="true"
                         Properties="NoBuild=true;_IsPacking=true;Configuration={configuration};PackageOutputPath={Folder}" />
              </Target>
            </Project>
            """);
        var r = Dotnet.Run(_dir.Path, "msbuild", traversal, "-nologo", "-v:q");
        if (r.ExitCode != 0) throw new InvalidOperationException($"packing failed:\n{r.Output}");
    }

    public string Folder { get; }
    public string Scratch => _dir.Path;
    public void Dispose() => _dir.Dispose();
}

public sealed record ProcessResult(int ExitCode, string Output);

/// <summary>Runs the dotnet host that runs these tests (DOTNET_HOST_PATH), or the one on PATH.</summary>
public static class Dotnet
{
    public static string Host => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

    public static ProcessResult Run(string workingDirectory, params string[] args) => Exec(Host, workingDirectory, null, args);

    public static ProcessResult Exec(string program, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 5 minutes"); }
        return new ProcessResult(p.ExitCode, stdout + stderr.Result);
    }
}

/// <summary>The packages a user gets: the `ternion` .NET tool installed from the packed folder, and the libraries' metadata.</summary>
public class PackageTests(PackedFolder packed, ITestOutputHelper output) : IClassFixture<PackedFolder>
{
    private static string Version => typeof(Ternion.Compiler.Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

    [Fact]
    public void TheToolInstallsFromThePackedFolderAndCompilesTheSample()
    {
        string version = Version.Split('+')[0];
        string tools = Path.Combine(packed.Scratch, "tools");
        // Only the packed folder as a source, and a package cache of its own: the tool under test is
        // the one just packed, never a cached or published package of the same name and version.
        string config = Path.Combine(packed.Scratch, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="packed" value="{packed.Folder}" /></packageSources>
            </configuration>
            """);
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(packed.Scratch, "nuget-packages") };
        var install = Dotnet.Exec(Dotnet.Host, packed.Scratch, env, "tool", "install", "--tool-path", tools, "--configfile", config, "Ternion.Cli", "--version", version);
        Assert.True(install.ExitCode == 0, install.Output);

        string ternion = Path.Combine(tools, "ternion");
        var v = Dotnet.Exec(ternion, packed.Scratch, null, "--version");
        Assert.Equal(0, v.ExitCode);
        Assert.Equal(Version, v.Output.Trim()); // the build under test, commit included

        string sample = Path.Combine(Paths.TestData, "bitnet-tiny");
        string compiled = Path.Combine(packed.Scratch, "bitnet-tiny.onnx");
        var compile = Dotnet.Exec(ternion, packed.Scratch, null, "compile", Path.Combine(sample, "model.onnx"), "-o", compiled);
        output.WriteLine(compile.Output);
        Assert.True(compile.ExitCode == 0, compile.Output);
        Assert.Contains("target fallback: 14 ternary weight(s) packed", compile.Output);
        // verify runs ONNX Runtime from the tool's own folder: the native library came with the package.
        var verify = Dotnet.Exec(ternion, packed.Scratch, null, "verify", Path.Combine(sample, "reference.onnx"), compiled,
            "--inputs", Path.Combine(sample, "test_data_set_0"), "--rtol", "1e-4", "--atol", "1e-5");
        Assert.True(verify.ExitCode == 0, verify.Output);
    }

    [Fact]
    public void EveryPackageCarriesItsMetadataReadmeAndLicence()
    {
        string version = Version.Split('+')[0];
        var expected = new[] { "Ternion.IR", "Ternion.Kernels", "Ternion.OrtOps", "Ternion.Passes", "Ternion.Backends", "Ternion.Cli" };
        var files = Directory.GetFiles(packed.Folder, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected.Select(id => $"{id}.{version}.nupkg").Order(StringComparer.Ordinal), files);
        foreach (var id in expected)
        {
            using var zip = ZipFile.OpenRead(Path.Combine(packed.Folder, $"{id}.{version}.nupkg"));
            var nuspec = XDocument.Load(zip.GetEntry($"{id}.nuspec")!.Open());
            var meta = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string Field(string name) => meta.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? "";
            Assert.Equal(id, Field("id"));
            Assert.Equal(version, Field("version"));
            Assert.False(string.IsNullOrWhiteSpace(Field("description")), $"{id}: no description");
            Assert.False(string.IsNullOrWhiteSpace(Field("authors")), $"{id}: no authors");
            Assert.False(string.IsNullOrWhiteSpace(Field("license")), $"{id}: no licence");
            Assert.Equal("README.md", Field("readme"));
            using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
                Assert.StartsWith("# ", readme.ReadToEnd());
            var names = zip.Entries.Select(e => e.FullName).ToList();
            if (id == "Ternion.Cli")
            {
                Assert.Contains("DotnetTool", nuspec.ToString());
                Assert.Contains(names, n => n.StartsWith("tools/net10.0/", StringComparison.Ordinal) && n.EndsWith("/ternion.dll", StringComparison.Ordinal));
                Assert.Contains(names, n => n.EndsWith("/libonnxruntime.so", StringComparison.Ordinal));
                Assert.DoesNotContain(names, n => n.EndsWith("/onnxruntime.dll", StringComparison.Ordinal)); // no Windows binaries in a linux-x64 tool
            }
            else
            {
                Assert.Contains($"lib/net10.0/{id}.dll", names);
                Assert.Contains($"lib/net10.0/{id}.xml", names); // XML docs for IntelliSense
            }
        }
    }
}
