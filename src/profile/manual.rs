//! The portal procedure for a profile, rendered from the catalog.

use std::fmt::Write;

use super::{CredentialKind, PermissionProfile, catalog};

pub(super) fn render(profile: &PermissionProfile, display_name: &str) -> String {
    let mut md = String::new();
    let perms = profile.permissions();
    let _ = writeln!(
        md,
        "# Register \"{display_name}\" by hand ({profile} profile)\n"
    );
    let _ = writeln!(
        md,
        "Sign in to the Microsoft Entra admin center (https://entra.microsoft.com) as a Global Administrator \
         (or a Privileged Role Administrator; a Cloud Application Administrator cannot grant the Microsoft Graph permissions).\n"
    );
    let _ = writeln!(
        md,
        "1. **Create the app registration.** Go to *Identity > Applications > App registrations > New registration*."
    );
    let _ = writeln!(md, "   - Name: `{display_name}`");
    let _ = writeln!(
        md,
        "   - Supported account types: *Accounts in this organizational directory only (Single tenant)*"
    );
    let _ = writeln!(
        md,
        "   - Leave the redirect URI empty and select *Register*."
    );
    let _ = writeln!(
        md,
        "2. **Add the application permissions.** In the app, open *API permissions > Add a permission*. For each resource below, choose it, select *Application permissions* (not delegated), tick the permissions and select *Add permissions*:"
    );
    let mut resources: Vec<&str> = Vec::new();
    for p in &perms {
        if !resources.contains(&p.resource.as_str()) {
            resources.push(&p.resource);
        }
    }
    for res in resources {
        let hint = catalog::RESOURCES
            .iter()
            .find(|r| r.name == res)
            .map(|r| r.portal_hint)
            .unwrap_or(res);
        let _ = writeln!(md, "   - *{hint}*:");
        for p in perms.iter().filter(|p| p.resource == res) {
            if p.is_resolved() {
                let _ = writeln!(md, "     - `{}` (id `{}`)", p.value, p.role_id);
            } else {
                let _ = writeln!(md, "     - `{}`", p.value);
            }
        }
    }
    let _ = writeln!(
        md,
        "3. **Grant admin consent.** Still in *API permissions*, select *Grant admin consent for <your organization>* and confirm. Every permission above must show a green *Granted* status."
    );
    if profile.allows(CredentialKind::Secret) {
        let _ = writeln!(
            md,
            "4. **Add a credential.** In *Certificates & secrets*, either upload a certificate (*Certificates > Upload certificate*, a `.cer` file with an RSA 2048-bit key) or create a client secret (*Client secrets > New client secret*) and copy its **Value** at once: it is shown only this one time."
        );
    } else {
        let _ = writeln!(
            md,
            "4. **Add a certificate.** In *Certificates & secrets > Certificates > Upload certificate*, upload a `.cer` file with an RSA 2048-bit key. This profile accepts no client secret: SharePoint Online accepts only certificates for app-only access."
        );
    }
    let _ = writeln!(
        md,
        "5. **Copy the connection details into the product.** From the app's *Overview*: the *Directory (tenant) ID* and the *Application (client) ID*; from *Certificates & secrets*: the certificate's *Thumbprint* (keep the certificate with its private key for the product), or the secret's value."
    );
    if let Some(ews) = profile.ews_allow_list_instructions(None) {
        // The prose, then the script as a PowerShell block.
        match ews.split_once("\n\n") {
            Some((prose, script)) => {
                let _ = writeln!(
                    md,
                    "6. **Put the app on the tenant's EWS allow-list.** {prose} Replace the placeholder with the *Application (client) ID*:\n\n   ```powershell"
                );
                for line in script.lines() {
                    let _ = writeln!(md, "   {line}");
                }
                let _ = writeln!(md, "   ```");
            }
            // EWS is off: there is no list to change, only the move to tell.
            None => {
                let _ = writeln!(md, "6. **Exchange Web Services.** {ews}");
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_list_every_permission_of_the_profile() {
        for name in PermissionProfile::NAMES {
            let p: PermissionProfile = name.parse().unwrap();
            let md = p.manual_instructions("Contoso Backup");
            for perm in p.permissions() {
                assert!(
                    md.contains(&format!("`{}` (id `{}`)", perm.value, perm.role_id)),
                    "{name}: {perm}"
                );
            }
            assert!(md.contains("Grant admin consent"));
        }
        let sp = PermissionProfile::BackupSharePoint.manual_instructions("x");
        assert!(sp.contains("accepts no client secret"));
        // The allow-list is read the only way that shows it, and never written from a guess.
        assert!(sp.contains("Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy"));
        assert!(sp.contains("$appId = '<Application (client) ID>'"));
        assert!(sp.contains("```powershell"));
        assert!(!sp.contains("Format-List"));
        assert!(!sp.contains("<ids already listed>"));
    }
}
