SELECT [CDN].[eSklepStanowiska].[ESS_ESSId], [CDN].[eSklepStanowiska].[ESS_Nazwa], [CDN].[eSklepStanowiska].[ESS_Nieaktywny], [CDN].[eSklepStanowiska].[ESS_KontrolaLimituPlat] 
FROM [CDN].[eSklepStanowiska] ORDER BY [CDN].[eSklepStanowiska].[ESS_ESSId]
