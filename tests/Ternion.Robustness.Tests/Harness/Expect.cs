namespace Ternion.Robustness.Tests.Harness;

/// <summary>The promises `ternion` makes about a failed or successful run, as assertions.</summary>
public static class Expect
{
    /// <summary>
    /// Exit code 2 and exactly one stderr line "ternion: error: ..." that names the file and holds
    /// every fragment; no stack trace, no "internal error", nothing on stdout.
    /// </summary>
    public static void Refused(CliOutcome r, string fileName, params string[] fragments)
    {
        Assert.True(r.ExitCode == 2, $"expected exit code 2: {r}");
        Assert.True(r.ErrorLines.Length == 1, $"expected one stderr line: {r}");
        var line = r.ErrorLines[0];
        Assert.StartsWith("ternion: error: ", line);
        Assert.DoesNotContain("internal error", line);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.True(line.Contains(fileName, StringComparison.Ordinal), $"the error must name '{fileName}': {line}");
        foreach (var f in fragments)
            Assert.True(line.Contains(f, StringComparison.Ordinal), $"the error must say '{f}': {line}");
        Assert.Equal("", r.Stdout);
    }

    /// <summary>Exit code 0 and nothing on stderr but progress lines ("ternion: info: ...", written for slow phases).</summary>
    public static void Succeeded(CliOutcome r)
    {
        Assert.True(r.ExitCode == 0, $"expected success: {r}");
        Assert.True(r.ErrorLines.All(l => l.StartsWith("ternion: info: ", StringComparison.Ordinal)), $"expected a quiet stderr: {r}");
    }

    /// <summary>Either outcome a user may see for a damaged but perhaps still meaningful file: success, or a proper refusal.</summary>
    public static void HandledCleanly(CliOutcome r)
    {
        Assert.True(r.ExitCode is 0 or 2, $"unexpected exit code: {r}");
        Assert.False(r.Stderr.Contains("internal error") || r.Stderr.Contains("   at "), $"unexpected exception: {r}");
        if (r.ExitCode == 2)
        {
            Assert.True(r.ErrorLines.Length == 1, $"expected one stderr line: {r}");
            Assert.StartsWith("ternion: error: ", r.ErrorLines[0]);
        }
    }

    /// <summary>The folder holds exactly these file names (so no output and no hidden temporary file was left).</summary>
    public static void FolderHolds(string dir, params string[] names)
    {
        var present = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.True(present.SequenceEqual(names.Order(StringComparer.Ordinal)),
            $"folder {dir} holds [{string.Join(", ", present)}], expected [{string.Join(", ", names.Order(StringComparer.Ordinal))}]");
    }
}
