using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NodeKeeper.TestSupport;

/// <summary>A self-signed key and certificate for 127.0.0.1, written as PEM files for examples/https-server.js.</summary>
public sealed record SelfSignedTls(string KeyFile, string CertFile, string CertHash)
{
    /// <summary>The TOML env table https-server.js reads its files from.</summary>
    public string Env => $"env = {{ TLS_KEY_FILE = \"{KeyFile}\", TLS_CERT_FILE = \"{CertFile}\" }}";

    public static SelfSignedTls Write(string dir)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var tls = new SelfSignedTls(Path.Combine(dir, "key.pem"), Path.Combine(dir, "cert.pem"), cert.GetCertHashString());
        File.WriteAllText(tls.KeyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(tls.CertFile, cert.ExportCertificatePem());
        return tls;
    }
}
