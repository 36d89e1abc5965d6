namespace NodeKeeper.Core.Config;

/// <summary>Path arithmetic for the loader: string work only, never the file system or the current directory.</summary>
internal static class ConfigPaths
{
    /// <summary><paramref name="path"/> made absolute against <paramref name="baseDirectory"/> (already absolute), with . and .. folded and no trailing slash.</summary>
    public static string Resolve(string baseDirectory, string path) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory, path)));

    /// <summary>How a file named in the config is shown in messages: next to the config's display path when relative.</summary>
    public static string Display(string configDisplayPath, string path) =>
        Path.IsPathRooted(path) ? path : Path.Combine(Path.GetDirectoryName(configDisplayPath) ?? "", path);
}
