// Where the sign-in's refresh token lives: encrypted shared preferences
// (their key in the Android Keystore), never a plain file. The core reads
// and rotates it through this TokenStorage from its own threads.
package org.mailpresence.app

import android.content.Context
import androidx.security.crypto.EncryptedSharedPreferences
import androidx.security.crypto.MasterKey
import org.mailpresence.TokenStorage

class SignInTokens(private val context: Context) : TokenStorage {
    private val prefs by lazy {
        val key = MasterKey.Builder(context).setKeyScheme(MasterKey.KeyScheme.AES256_GCM).build()
        EncryptedSharedPreferences.create(
            context, "sign-in", key,
            EncryptedSharedPreferences.PrefKeyEncryptionScheme.AES256_SIV,
            EncryptedSharedPreferences.PrefValueEncryptionScheme.AES256_GCM,
        )
    }

    override fun load(): String? = prefs.getString("refresh_token", null)
    override fun save(token: String) { prefs.edit().putString("refresh_token", token).commit() }
    override fun clear() { prefs.edit().remove("refresh_token").commit() }
}
