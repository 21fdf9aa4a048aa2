// The account settings, kept in encrypted shared preferences (the password
// never in plain files): every field of the form, the TLS modes, the SMTP
// host, the server key and the CA file's path included. The vault
// AccountSession reads and writes.
package org.mailpresence.app

import android.content.Context
import androidx.security.crypto.EncryptedSharedPreferences
import androidx.security.crypto.MasterKey
import org.mailpresence.protocol.ProviderConfig
import org.mailpresence.protocol.ProviderKind
import org.mailpresence.protocol.TlsMode
import org.mailpresence.ui.AccountForm
import org.mailpresence.ui.AccountVault

class AccountStore(private val context: Context) : AccountVault {
    private val prefs by lazy {
        val key = MasterKey.Builder(context).setKeyScheme(MasterKey.KeyScheme.AES256_GCM).build()
        EncryptedSharedPreferences.create(
            context, "account", key,
            EncryptedSharedPreferences.PrefKeyEncryptionScheme.AES256_SIV,
            EncryptedSharedPreferences.PrefValueEncryptionScheme.AES256_GCM,
        )
    }

    override fun load(): AccountForm? {
        val p = prefs
        val account = p.getString("account", null) ?: return null
        return AccountForm(
            account = account,
            mail = p.getString("mail", "")!!,
            password = p.getString("password", "")!!,
            presenceServer = p.getString("presenceServer", "")!!,
            mailHost = p.getString("mailHost", "")!!,
            imapPort = p.getString("imapPort", "993")!!,
            imapSecurity = TlsMode.valueOf(p.getString("imapSecurity", "IMPLICIT")!!),
            smtpHost = p.getString("smtpHost", "")!!,
            smtpPort = p.getString("smtpPort", "587")!!,
            smtpSecurity = TlsMode.valueOf(p.getString("smtpSecurity", "STARTTLS")!!),
            serverKey = p.getString("serverKey", "")!!,
            caFile = p.getString("caFile", "")!!,
            granularity = org.mailpresence.Granularity.valueOf(p.getString("granularity", "CITY")!!),
            authservId = p.getString("authservId", "")!!,
            signIn = p.getString("signInProvider", null)?.let { kind ->
                ProviderConfig(ProviderKind.valueOf(kind), p.getString("signInClientId", "")!!, p.getString("signInTenant", null),
                    null, null, null, null, null)
            },
        )
    }

    override fun save(form: AccountForm) {
        prefs.edit()
            .putString("account", form.account).putString("mail", form.mail).putString("password", form.password)
            .putString("presenceServer", form.presenceServer).putString("mailHost", form.mailHost)
            .putString("imapPort", form.imapPort).putString("smtpPort", form.smtpPort)
            .putString("imapSecurity", form.imapSecurity.name).putString("smtpSecurity", form.smtpSecurity.name)
            .putString("smtpHost", form.smtpHost).putString("serverKey", form.serverKey).putString("caFile", form.caFile)
            .putString("granularity", form.granularity.name).putString("authservId", form.authservId)
            .putString("signInProvider", form.signIn?.provider?.name).putString("signInClientId", form.signIn?.clientId)
            .putString("signInTenant", form.signIn?.tenant)
            .apply()
    }
}
