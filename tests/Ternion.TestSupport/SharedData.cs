using System.Runtime.CompilerServices;
using Xunit;

namespace Ternion.TestSupport;

/// <summary>
/// Whether the parts of the shared corpus a test needs are there, and the skip reason when not.
/// </summary>
/// <remarks>
/// xunit 2.9 has no skip from inside a running test; it does read an attribute's Skip property
/// after the attribute is constructed, at discovery, which is when the corpus's presence is known.
/// So the check runs in the attributes' constructors below: a clone without the corpus lists these
/// tests as skipped with the reason, never as passed and never as failed. Only file presence is
/// checked there; a test that finds the corpus but not what it expects in it fails.
/// CI sets TERNION_REQUIRE_SHARED=1: then nothing is skipped, and a missing corpus fails the tests
/// that need it (and .ci/run fails on any skip naming the corpus), so CI cannot quietly test less.
/// </remarks>
public static class SharedData
{
    public const string RequireVariable = "TERNION_REQUIRE_SHARED";

    /// <summary>Prefix of every skip reason, which .ci/run looks for.</summary>
    public const string SkipPrefix = "needs the shared corpus";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) is "1" or "true";

    /// <summary>Missing parts of <paramref name="relative"/> (paths under the shared folder), as a skip reason; null when all are there.</summary>
    public static string? Missing(params string[] relative)
    {
        var missing = relative.Where(r => !File.Exists(Path.Combine(Paths.Shared, r)) && !Directory.Exists(Path.Combine(Paths.Shared, r))).ToList();
        if (missing.Count == 0) return null;
        return $"{SkipPrefix}: {string.Join(", ", missing)} not found under {Paths.Shared} (set {Paths.SharedVariable} to the shared folder)";
    }

    /// <summary>The skip reason for a test needing <paramref name="relative"/>, or null to run it.</summary>
    public static string? SkipReason(params string[] relative) => Required ? null : Missing(relative);
}

/// <summary>
/// A fact that needs one or two parts of the shared corpus (paths relative to it); skipped when they
/// are missing, with the reason in the test's displayed name so that `dotnet test` at its default
/// verbosity shows it (xunit prints a skip's reason only at normal verbosity and above).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(string need, string? alsoNeed = null, [CallerMemberName] string test = "")
    {
        Needs = alsoNeed is null ? [need] : [need, alsoNeed];
        if (SharedData.SkipReason(Needs) is { } reason) { Skip = reason; DisplayName = $"{test} ({reason})"; }
    }

    public string[] Needs { get; }
}

/// <summary>A theory that needs one or two parts of the shared corpus; skipped as <see cref="SharedDataFactAttribute"/> is.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedDataTheoryAttribute : TheoryAttribute
{
    public SharedDataTheoryAttribute(string need, string? alsoNeed = null, [CallerMemberName] string test = "")
    {
        Needs = alsoNeed is null ? [need] : [need, alsoNeed];
        if (SharedData.SkipReason(Needs) is { } reason) { Skip = reason; DisplayName = $"{test} ({reason})"; }
    }

    public string[] Needs { get; }
}
