using System.Reflection;

namespace NodeKeeper.Core.Protocol;

/// <summary>
/// The version a build reports: the project's version and the commit it was built from ("0.1.0+e58c912"), so that two
/// builds of one version from different commits tell themselves apart (`nk version`, `nk update`).
/// </summary>
public static class BuildVersion
{
    public static string Of(Assembly assembly) =>
        Short(assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    /// <summary>The version an informational version ("0.1.0+e58c912…", as the build writes it) reports.</summary>
    public static string Short(string info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var plus = info.IndexOf('+');
        // A full commit id is 40 characters; 7 tell builds apart as git's short ids do.
        return plus >= 0 && info.Length - plus - 1 > 7 ? info[..(plus + 8)] : info;
    }
}
